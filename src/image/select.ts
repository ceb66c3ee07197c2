/**
 * Which layers to encrypt: by index (`--encrypt-layer N`, 0-based, negative from the top, as
 * skopeo) or by Dockerfile labels (`--encrypt-labelled`).
 *
 * Label mode walks the config history in order. `LABEL ward.encrypt=true` (or
 * `com.senetas.crypto.enabled=true`, the label Senetas' Dockerfile convention uses) opens a range,
 * `…=false` closes it, and every history entry without `empty_layer` stands for the next layer.
 * The layers built inside a range are encrypted.
 */
import { WardError } from '../errors.ts';
import type { HistoryEntry } from './manifest.ts';

const LABEL_KEYS = ['ward.encrypt', 'com.senetas.crypto.enabled'];

/** The state a history entry sets, if it is a LABEL instruction naming one of the keys. */
export function labelSwitch(createdBy: string | undefined): boolean | undefined {
  if (!createdBy) return undefined;
  const m = /(?:^|\s|#\(nop\)\s*)LABEL\s+(.*)$/s.exec(createdBy);
  if (!m) return undefined;
  let state: boolean | undefined;
  // LABEL k=v k2="v2" …: scan key=value pairs, quotes optional.
  const pair = /([A-Za-z0-9_.\-/]+)=(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S*))/g;
  for (let p = pair.exec(m[1]!); p; p = pair.exec(m[1]!)) {
    if (!LABEL_KEYS.includes(p[1]!)) continue;
    const value = (p[2] ?? p[3] ?? p[4] ?? '').toLowerCase();
    if (value === 'true') state = true;
    else if (value === 'false') state = false;
  }
  return state;
}

/** The 0-based indexes of the layers built between the encrypt labels. */
export function labelledLayers(history: HistoryEntry[], layerCount: number): number[] {
  const selected: number[] = [];
  let on = false;
  let layer = 0;
  for (const entry of history) {
    const s = labelSwitch(entry.created_by);
    if (s !== undefined) on = s;
    if (entry.empty_layer) continue;
    if (on) selected.push(layer);
    layer++;
  }
  if (layer !== layerCount) {
    throw new WardError('ERR_IMAGE_FORMAT', `the image config history names ${layer} layers but the manifest has ${layerCount}`, {
      hint: 'choose layers with --encrypt-layer instead',
    });
  }
  return selected;
}

/** Resolves `--encrypt-layer` values (negative counts from the top) to indexes. */
export function indexedLayers(indexes: readonly number[], layerCount: number): number[] {
  return [...new Set(indexes.map((i) => {
    const n = i < 0 ? layerCount + i : i;
    if (!Number.isInteger(i) || n < 0 || n >= layerCount) {
      throw new WardError('ERR_USAGE', `--encrypt-layer ${i} is out of range: the image has ${layerCount} layers`);
    }
    return n;
  }))].sort((a, b) => a - b);
}
