// Prometheus text, read the way Prometheus reads it (parse-prometheus-text-format, a port of the
// Python client's parser) instead of by regular expressions: what a test sees is what a scrape
// sees, label escaping and histogram series included.
const parseText: (text: string) => Family[] = require('parse-prometheus-text-format');

interface Sample {
  labels?: Record<string, string>;
  value?: string;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}

export interface Family {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: Sample[];
}

export interface Scrape {
  families: Map<string, Family>;
  /** the sample's value (a histogram's series by their own names: `x_count`, `x_bucket`) where every given label matches; 0 when there is none */
  value(name: string, labels?: Record<string, string>): number;
  /** the sum over every sample of the family whose labels match */
  sum(name: string, labels?: Record<string, string>): number;
  /** every label set the family has */
  series(name: string): Record<string, string>[];
}

const matches = (s: Sample, labels: Record<string, string>) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v);
const numberOf = (s: Sample) => Number(s.value ?? s.count ?? 0);

export function parseMetrics(text: string): Scrape {
  const families = new Map(parseText(text).map((f) => [f.name, f]));
  // The parser folds a histogram's buckets into one sample and drops their labels (it follows an
  // old prom2json), so a histogram's series (`_bucket`, `_count`, `_sum`, with their labels) are
  // read from a second parse where histograms and summaries are untyped: each series its own family.
  // prom-client writes each label set's buckets, sum and count in turn, so one series name comes
  // back as several families: merged here.
  const flat = new Map<string, Family>();
  for (const f of parseText(text.replace(/^# TYPE (\S+) (histogram|summary)$/gm, '# TYPE $1 untyped'))) {
    const seen = flat.get(f.name);
    if (seen) seen.metrics.push(...f.metrics);
    else flat.set(f.name, { ...f, metrics: [...f.metrics] });
  }
  const family = (name: string) => (families.has(name) && !['HISTOGRAM', 'SUMMARY'].includes(families.get(name)!.type) ? families.get(name) : flat.get(name));
  const samples = (name: string, labels: Record<string, string>) => (family(name)?.metrics ?? []).filter((s) => matches(s, labels));
  return {
    families,
    value: (name, labels = {}) => {
      const found = samples(name, labels);
      return found.length ? numberOf(found[0]) : 0;
    },
    sum: (name, labels = {}) => samples(name, labels).reduce((t, s) => t + numberOf(s), 0),
    series: (name) => (family(name)?.metrics ?? []).map((s) => s.labels ?? {}),
  };
}
