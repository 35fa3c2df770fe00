import { render } from 'preact';
import { App } from './app';
import { loadKinds } from './store';
import './style.css';

// The event kinds are in the first render's lists (a type filter from the
// URL selects one of them). A slow or failing answer does not hold the UI
// back for more than two seconds: the lists fill in when it comes.
const wait = new Promise((resolve) => setTimeout(resolve, 2000));
Promise.race([loadKinds(), wait]).finally(() => render(<App />, document.getElementById('app')!));
