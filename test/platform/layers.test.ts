import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// Issue #12: `npm run lint` enforces the floors (.dependency-cruiser.cjs). Each rule is shown to
// fail a forbidden import, on a small tree of the same folder names, with the project's own
// config and its own dependency-cruiser; a tree that keeps the rules passes.
const ROOT = join(__dirname, '..', '..');

function cruise(files: Record<string, string>): { rule: string; from: string; to: string }[] {
  const dir = mkdtempSync(join(tmpdir(), 'quotaflow-layers-'));
  try {
    copyFileSync(join(ROOT, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'commonjs', esModuleInterop: true, strict: true } }));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const folders = [...new Set(Object.keys(files).map((p) => p.split('/')[0]))];
    let out: string;
    try {
      out = execFileSync(join(ROOT, 'node_modules', '.bin', 'depcruise'), ['--config', '.dependency-cruiser.cjs', '--output-type', 'json', ...folders], { cwd: dir, encoding: 'utf8' });
    } catch (err) {
      out = (err as { stdout: string }).stdout; // exit 1: there are violations
    }
    const summary = JSON.parse(out).summary as { violations: { rule: { name: string }; from: string; to: string }[] };
    return summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const importing = (imports: string[]) => `${imports.map((m, i) => `import * as m${i} from '${m}';`).join('\n')}\nexport const used = [${imports.map((_, i) => `m${i}`).join(', ')}];\n`;

describe('the layers of STYLE.md, enforced by npm run lint (issue #12)', () => {
  const floor = {
    'billing/rule.ts': 'export const rule = 1;\n',
    'store/thing.store.ts': "import knex from 'knex';\nexport const store = knex;\n",
    'payments/engine.ts': "import { store } from '../store/thing.store';\nexport const engine = store;\n",
    'activities/acts.ts': importing(['../payments/engine', '../store/thing.store', '../billing/rule']),
    'workflows/wf.ts': "import type { used } from '../activities/acts';\nimport { rule } from '../billing/rule';\nexport type U = typeof used;\nexport const r = rule;\n",
    'api/route.ts': importing(['../payments/engine', '../store/thing.store', '../workflows/wf']),
  };

  it('a tree that keeps every rule passes', () => {
    expect(cruise(floor)).toEqual([]);
  }, 60_000);

  it('each forbidden import fails, naming its rule', () => {
    const violations = cruise({
      ...floor,
      'billing/io.ts': importing(['knex', '../store/thing.store']),
      'workflows/io.ts': importing(['../store/thing.store', '@temporalio/client', '../activities/acts']),
      'api/reach.ts': importing(['../activities/acts']),
      'activities/up.ts': importing(['../api/route']),
      'store/up.ts': importing(['../activities/acts', '../api/route', '../payments/engine']),
      'payments/up.ts': importing(['../workflows/wf', '../api/route']),
    });
    const by = (rule: string) => violations.filter((v) => v.rule === rule).map((v) => `${v.from} → ${v.to}`).sort();
    expect(by('billing-is-pure')).toEqual([expect.stringMatching(/^billing\/io\.ts → .*node_modules\/knex\//), 'billing/io.ts → store/thing.store.ts']);
    expect(by('workflows-are-deterministic')).toEqual(expect.arrayContaining(['workflows/io.ts → store/thing.store.ts']));
    expect(by('workflows-are-deterministic').some((v) => v.includes('@temporalio/client'))).toBe(true);
    expect(by('workflows-activities-type-only')).toEqual(['workflows/io.ts → activities/acts.ts']);
    expect(by('api-not-activities')).toEqual(['api/reach.ts → activities/acts.ts']);
    expect(by('activities-not-api')).toEqual(['activities/up.ts → api/route.ts']);
    expect(by('store-is-a-floor')).toEqual(['store/up.ts → activities/acts.ts', 'store/up.ts → api/route.ts', 'store/up.ts → payments/engine.ts']);
    expect(by('payments-is-a-floor')).toEqual(['payments/up.ts → api/route.ts', 'payments/up.ts → workflows/wf.ts']);
  }, 60_000);
});
