import type { DomainGovernance } from '../src/domain/governance';
import { governanceOf } from '../src/domain/governance';
import type { Logger } from '../src/log';
import { loadMeshConfig } from '../src/specs/load';

/**
 * mesh.yaml as it is now. Product workflows ask at each decision who may approve or operate, so a
 * person removed from the file loses the right for pending decisions too.
 */
export function createMeshActivities(deps: { meshFile: string; log: Logger }) {
  return {
    async readMeshGovernance(input: { domain: string }): Promise<DomainGovernance> {
      const mesh = await loadMeshConfig(deps.meshFile);
      const governance = governanceOf(mesh, input.domain);
      if (!governance.known) deps.log.warn('domain not in mesh.yaml', { domain: input.domain.slice(0, 200) });
      return governance;
    },
  };
}
