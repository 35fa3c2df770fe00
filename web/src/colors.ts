// Series colours: distinguishable on dark and light backgrounds.
export const palette = [
  '#5794f2',
  '#73bf69',
  '#f2cc0c',
  '#ff9830',
  '#f2495c',
  '#b877d9',
  '#8ab8ff',
  '#96d98d',
  '#ffb357',
  '#ff7383',
  '#ca95e5',
  '#37872d',
  '#1f60c4',
  '#c4162a',
  '#8f3bb8',
  '#fade2a',
];

export function seriesColor(i: number): string {
  return palette[i % palette.length];
}

export function alpha(hex: string, a: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

// cssVar reads a theme colour from the stylesheet.
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
