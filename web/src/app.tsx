import { useEffect, useState } from 'preact/hooks';
import { Icon } from './components/icons';
import { TimePicker } from './components/TimePicker';
import { Link } from './components/ui';
import { Events } from './pages/Events';
import { Network } from './pages/Network';
import { Overview } from './pages/Overview';
import { Process } from './pages/Process';
import { Processes } from './pages/Processes';
import { Profiles } from './pages/Profiles';
import { Query } from './pages/Query';
import { Security } from './pages/Security';
import { Self } from './pages/Self';
import { loadKinds, loadStatus, status, theme, useObservable, useRoute, type Theme } from './store';

const nav = [
  { path: '/', name: 'Overview', icon: 'overview' },
  { path: '/processes', name: 'Processes', icon: 'processes' },
  { path: '/events', name: 'Events', icon: 'events' },
  { path: '/network', name: 'Network', icon: 'network' },
  { path: '/profiles', name: 'Profiles', icon: 'profiles' },
  { path: '/security', name: 'Security', icon: 'security' },
  { path: '/query', name: 'Query', icon: 'query' },
  { path: '/kscope', name: 'kscope', icon: 'self' },
];

function page(path: string) {
  if (path === '/') return { title: 'Overview', el: <Overview /> };
  if (path === '/processes') return { title: 'Processes', el: <Processes /> };
  // A process is its pid and start time: /processes/PID/START.
  const m = /^\/processes\/(\d+)(?:\/(\d+))?$/.exec(path);
  if (m) return { title: 'Process ' + m[1], el: <Process key={path} pid={m[1]} start={m[2]} /> };
  if (path === '/events') return { title: 'Events', el: <Events /> };
  if (path === '/network') return { title: 'Network', el: <Network /> };
  if (path === '/profiles') return { title: 'Profiles', el: <Profiles /> };
  if (path === '/security') return { title: 'Security', el: <Security /> };
  if (path === '/query') return { title: 'Query', el: <Query /> };
  if (path === '/kscope') return { title: 'kscope', el: <Self /> };
  return {
    title: 'Not found',
    el: (
      <div class="empty-state">
        No page at {path}. <Link href="/">Go to the overview</Link>.
      </div>
    ),
  };
}

const themeNext: Record<Theme, Theme> = { auto: 'dark', dark: 'light', light: 'auto' };
const themeIcon: Record<Theme, string> = { auto: 'auto', dark: 'moon', light: 'sun' };

export function App() {
  const r = useRoute();
  const st = useObservable(status);
  const th = useObservable(theme);
  const [menu, setMenu] = useState(false);
  useEffect(() => {
    loadStatus();
    // The health can change while the page is open: the banner follows;
    // kinds built at run time (a script's probes) come and go.
    const t = window.setInterval(() => {
      if (document.hidden) return;
      loadStatus();
      loadKinds();
    }, 30_000);
    return () => window.clearInterval(t);
  }, []);
  useEffect(() => setMenu(false), [r.path]);
  const pg = page(r.path);
  useEffect(() => {
    document.title = `${pg.title} · kscope${st?.hostname ? ' · ' + st.hostname : ''}`;
  }, [pg.title, st?.hostname]);
  const active = (p: string) => (p === '/' ? r.path === '/' : r.path === p || r.path.startsWith(p + '/'));
  return (
    <div class={'shell' + (menu ? ' menu-open' : '')}>
      <aside class="sidebar" data-testid="nav">
        <div class="brand">
          <Link href="/" class="brand-link">
            <svg viewBox="0 0 32 32" width="22" height="22" aria-hidden="true">
              <circle cx="14" cy="14" r="9" fill="none" stroke="var(--accent)" stroke-width="3" />
              <path d="M21 21l7 7" stroke="var(--accent)" stroke-width="3.5" stroke-linecap="round" />
              <path d="M9 15h2l2-4 2 7 2-3h2" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" />
            </svg>
            <span>kscope</span>
          </Link>
        </div>
        <nav>
          {nav.map((n) => (
            <Link key={n.path} href={n.path} class={'nav-item' + (active(n.path) ? ' active' : '')} testid={'nav-' + n.icon}>
              <Icon name={n.icon} />
              <span>{n.name}</span>
            </Link>
          ))}
        </nav>
        <div class="sidebar-foot">
          {st && (
            <div class="host" title={`kernel ${st.kernel} · ${st.cpus} CPUs · kscope ${st.version}`}>
              <div class="host-name">{st.hostname}</div>
              <div class="host-meta">
                {st.kernel} · {st.cpus} CPU
              </div>
            </div>
          )}
          <button class="btn icon ghost" title={'Theme: ' + th} data-testid="theme" onClick={() => theme.set(themeNext[th])}>
            <Icon name={themeIcon[th]} size={16} />
          </button>
        </div>
      </aside>
      <div class="scrim" onClick={() => setMenu(false)} />
      <div class="main">
        <header class="topbar">
          <button class="btn icon ghost menu-btn" aria-label="Menu" data-testid="menu" onClick={() => setMenu(!menu)}>
            <Icon name="menu" />
          </button>
          <h1 class="page-title">{pg.title}</h1>
          <TimePicker />
        </header>
        {st?.health && st.health.status !== 'ok' && (
          <div class={'health-banner ' + st.health.status} role="alert" data-testid="health-banner">
            <strong>{st.health.status === 'degraded' ? 'Degraded' : 'Unhealthy'}:</strong>{' '}
            {st.health.reasons.join('; ')}.{' '}
            {st.tsdb?.series_limit_reached && (
              <span>
                New series are missing from queries and charts until the cap (<code>storage.max_series</code>) is raised or
                series of ended processes leave memory. <Link href="/kscope">Details</Link>
              </span>
            )}
          </div>
        )}
        <main class="content" data-page={r.path}>
          {pg.el}
        </main>
      </div>
    </div>
  );
}
