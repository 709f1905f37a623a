import { Link } from 'wouter-preact';
import { useTitle } from '../hooks';

export function NotFound() {
  useTitle('Not found');
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is nothing here. <Link href="/vms">Go to your VMs</Link>.
      </p>
    </section>
  );
}
