// `--mesh-config FILE`: one MeshConfig read at start (the folder's own MeshConfigs are watched).
import { readFile } from 'node:fs/promises';
import { MeshdnsError } from '../errors.js';
import { type MeshSettings, meshConfigFromText } from '../model/index.js';

/** Reads and checks the file; throws MESHDNS_MESH_CONFIG naming it and what is wrong. */
export async function loadMeshConfigFile(file: string): Promise<MeshSettings> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const why = `${file}: cannot read the mesh config (${(e as Error).message}); check --mesh-config`;
    throw new MeshdnsError('MESHDNS_MESH_CONFIG', why, { cause: e });
  }
  const { settings, errors } = meshConfigFromText(file, text);
  if (!settings) throw errors[0]!;
  return settings;
}
