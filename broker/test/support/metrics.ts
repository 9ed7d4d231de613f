// Reading the broker's /metrics as Prometheus would: the text is parsed by parse-prometheus-text-format
// (a parser of the exposition format, not ours), so a malformed line fails the scrape.
// @ts-expect-error: the package ships no types; its one function returns the families described below.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

interface Family {
  name: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

export interface Scrape {
  families: Family[];
  /** A sample's value: `value('broker_requests_total', { route: 'mint', outcome: 'granted' })`; 0 when absent. */
  value: (name: string, labels?: Record<string, string>) => number;
  /** The sum of a counter's samples whose labels include `labels`. */
  sum: (name: string, labels?: Record<string, string>) => number;
}

/** Scrapes a broker's metrics listener (its own port by default), or the URL given. */
export async function scrape(at: string | { url: string; metricsUrl?: string | undefined }): Promise<Scrape> {
  const url = typeof at === 'string' ? at : (at.metricsUrl ?? at.url);
  const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  if (!/^text\/plain; version=0\.0\.4/.test(response.headers.get('content-type') ?? '')) throw new Error('not Prometheus text');
  const families = parsePrometheusTextFormat(await response.text()) as Family[];
  const matching = (name: string, labels: Record<string, string>) =>
    (families.find((family) => family.name === name)?.metrics ?? []).filter((metric) =>
      Object.entries(labels).every(([key, value]) => metric.labels?.[key] === value),
    );
  const numberOf = (metric: Family['metrics'][number]) => Number(metric.value ?? metric.count ?? 0);
  return {
    families,
    value: (name, labels = {}) => {
      const [metric] = matching(name, labels);
      return metric ? numberOf(metric) : 0;
    },
    sum: (name, labels = {}) => matching(name, labels).reduce((total, metric) => total + numberOf(metric), 0),
  };
}
