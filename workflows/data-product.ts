import * as wf from '@temporalio/workflow';
import { isAwaitingDecision, isTerminal, Stage } from '../src/domain/lifecycle';
import type { AmendRequest, OperatorRequest, ReviewRequest } from '../src/domain/messages';
import {
  amendRequestSchema,
  operatorRequestSchema,
  parseMessage,
  retireRequestSchema,
  reviewRequestSchema,
} from '../src/domain/messages';
import { carriedStateRefusal, withoutLapsedApprovals } from '../src/domain/carried-check';
import {
  amendRefusal,
  notReady,
  operatorActs,
  productOperatorRefusal,
  reviewRefusal,
} from '../src/domain/permissions';
import type { DataProductInput, ProductStatus } from './definitions';
import {
  amendSpecUpdate,
  approveSignal,
  deprecateUpdate,
  getStatusQuery,
  redeployUpdate,
  rejectSignal,
  retireUpdate,
  retryProvisioningUpdate,
  reviewUpdate,
} from './definitions';
import { analysisCycleSignal } from './analysis';
import { confirmAnalysisCycles, keepScheduleInStep, onAnalysisCycle } from './product/analysis';
import { publishIfChanged } from './product/catalog';
import { applyOperatorAct, retire } from './product/operators';
import { Product, refuse, throwIf } from './product/product';
import { showCritique } from './product/critic-details';
import { showDetails } from './product/observe';
import { checkProposal } from './product/proposal';
import { provision } from './product/provisioning';
import { amend, awaitDecision, onReviewSignal, review } from './product/review';
import { startSlackNotifier } from './product/slack-notifier';
import type { CheckedStart } from './product/start-input';
import { checkStartInput } from './product/start-input';
import { stopJobIfRunning, stopTableIfRunning } from './product/stopping';
import { watch } from './product/watch';

/** One data product's life, from proposal to retirement. The workflow id is `data-product:<domain>.<name>`. */
export async function dataProductWorkflow(input: DataProductInput): Promise<ProductStatus> {
  const info = wf.workflowInfo();
  const checked = checkStartInput(input, {
    workflowId: info.workflowId,
    continuedFromExecutionRunId: info.continuedFromExecutionRunId,
  });
  // A forged start (carried state, someone else's id, a malformed spec) fails at once.
  if (!checked.ok) refuse(checked.refusal);
  const start = checked.value;
  const product = await begin(start, info.firstExecutionRunId);
  if (!start.carried) product.report({ kind: 'proposed' });
  // The proposal's Slack message is kept current beside the main loop (no channel: no message).
  const slack = startSlackNotifier(
    () => product.governance?.slackChannel,
    () => product.status(),
  );

  const shouldContinueAsNew = () =>
    wf.workflowInfo().continueAsNewSuggested ||
    (start.maxHistoryEvents !== undefined && wf.workflowInfo().historyLength >= start.maxHistoryEvents);

  for (;;) {
    // Messages may change the stage during any await, so every pass starts from the current one.
    // Only when a summary waits: an extra await would reorder commands in recorded histories.
    if (product.cyclesPending) await confirmAnalysisCycles(product);
    await publishIfChanged(product);
    await keepScheduleInStep(product);
    if (isTerminal(product.stage)) break;
    if (shouldContinueAsNew()) {
      // Let running handlers finish so no update is cut off; buffered signals reach the next run.
      await wf.condition(wf.allHandlersFinished);
      return await wf.continueAsNew<typeof dataProductWorkflow>(
        nextRunInput(product, start.maxHistoryEvents),
      );
    }
    const stage = product.stage;
    if (stage === Stage.proposed) {
      await checkProposal(product);
    } else if (isAwaitingDecision(stage)) {
      await awaitDecision(product, shouldContinueAsNew);
    } else if (stage === Stage.provisioning) {
      await provision(product);
    } else if (stage === Stage.active || stage === Stage.degraded) {
      await watch(product, shouldContinueAsNew);
    } else {
      if (stage === Stage.deprecated) {
        await stopJobIfRunning(product);
        await stopTableIfRunning(product);
      }
      // deprecated, failed: wait for an operator (or for history to need a fresh run).
      await wf.condition(() => product.stage !== stage || product.cyclesPending || shouldContinueAsNew());
    }
  }
  // Retired (or an amendment of a running product rejected or expired): the job stops with a
  // savepoint; the topic and its data stay.
  if (product.state.job) {
    await stopJobIfRunning(product);
    await stopTableIfRunning(product);
    await publishIfChanged(product);
  }
  await wf.condition(wf.allHandlersFinished);
  await slack.settled('2 minutes');
  return product.status();
}

/**
 * The run's first steps. Carried state is verified (src/domain/carried-check.ts) against mesh.yaml
 * read now and the run's lifetime before anything else: no handler, no search attribute, no act.
 */
async function begin(start: CheckedStart, lifetime: string): Promise<Product> {
  // Runs recorded before signatures bound the spec and the lifetime replay as they ran.
  const hardened = wf.patched('approvals-bound-to-spec-and-lifetime');
  const product = new Product(start, { lifetime, hardened });
  if (!hardened) {
    registerUpdates(product, () => true);
    registerSignals(product);
    product.upsertAllSearchAttributes();
    await product.loadGovernance();
    return product;
  }
  // Reading the status acts on nothing: `show` answers while mesh.yaml is read and checked. Updates
  // are registered now too (one with no handler is rejected for good), and refused as NotReady
  // until the check passed; signals wait in Temporal's buffer until their handlers exist.
  let verified = false;
  registerUpdates(product, () => verified);
  const governance = await product.loadGovernance();
  if (start.carried) {
    product.state = withoutLapsedApprovals(product.state, governance);
    throwIf(carriedStateRefusal(product.state, governance, product.lifetime));
  }
  verified = true;
  registerSignals(product);
  product.upsertAllSearchAttributes();
  showCritique(product);
  // The UI's current details from the first task on (a continued run's too: no command).
  showDetails(product.status());
  return product;
}

/** Signals are ignored when refused (recorded). */
function registerSignals(product: Product): void {
  wf.setHandler(approveSignal, (message: unknown) => onReviewSignal(product, 'approve', message));
  wf.setHandler(rejectSignal, (message: unknown) => onReviewSignal(product, 'reject', message));
  wf.setHandler(analysisCycleSignal, (summary: unknown) => onAnalysisCycle(product, summary));
}

/**
 * Updates are refused at once by their validator with mesh.yaml as last read (NotReady while the
 * run's start is checked), and the handler reads mesh.yaml again (decision time) and checks once
 * more before anything changes.
 */
function registerUpdates(product: Product, verified: () => boolean): void {
  wf.setHandler(getStatusQuery, () => product.status());
  const validated =
    (check: (raw: unknown) => void) =>
    (raw: unknown): void => {
      if (!verified()) refuse(notReady);
      check(raw);
    };
  const reviewRefused = (request: ReviewRequest) =>
    reviewRefusal(product.state, product.governance, request, product.signatureContext());
  wf.setHandler(
    reviewUpdate,
    async (raw: unknown) => {
      const request = parsedOrRefuse<ReviewRequest>(reviewRequestSchema, raw, 'review');
      await product.readGovernance();
      throwIf(reviewRefused(request));
      review(product, request);
      return product.status();
    },
    {
      validator: validated((raw) =>
        throwIf(reviewRefused(parsedOrRefuse(reviewRequestSchema, raw, 'review'))),
      ),
    },
  );
  const amendRefused = (request: AmendRequest) =>
    amendRefusal(product.state, product.governance, request, product.signatureContext());
  wf.setHandler(
    amendSpecUpdate,
    async (raw: unknown) => {
      const request = parsedOrRefuse<AmendRequest>(amendRequestSchema, raw, 'amendSpec');
      await product.readGovernance();
      throwIf(amendRefused(request));
      product.spend(request.signature);
      amend(product, request.by, request.spec, request.comment);
      return product.status();
    },
    {
      validator: validated((raw) =>
        throwIf(amendRefused(parsedOrRefuse(amendRequestSchema, raw, 'amendSpec'))),
      ),
    },
  );
  for (const [update, action] of [
    [retryProvisioningUpdate, 'retryProvisioning'],
    [deprecateUpdate, 'deprecate'],
    [redeployUpdate, 'redeploy'],
  ] as const) {
    const act = operatorActs[action];
    const refused = (raw: unknown) =>
      productOperatorRefusal(
        product.state,
        product.governance,
        parsedOrRefuse<OperatorRequest>(operatorRequestSchema, raw, act.what),
        act,
        product.signatureContext(),
      );
    wf.setHandler(
      update,
      async (raw: unknown) => {
        const request = parsedOrRefuse<OperatorRequest>(operatorRequestSchema, raw, act.what);
        await product.readGovernance();
        throwIf(
          productOperatorRefusal(product.state, product.governance, request, act, product.signatureContext()),
        );
        product.spend(request.signature);
        applyOperatorAct(product, action, request);
        return product.status();
      },
      { validator: validated((raw) => throwIf(refused(raw))) },
    );
  }
  wf.setHandler(
    retireUpdate,
    async (raw: unknown) => {
      await retire(product, parsedOrRefuse(retireRequestSchema, raw, 'retire'));
      return product.status();
    },
    {
      validator: validated((raw) =>
        throwIf(
          productOperatorRefusal(
            product.state,
            product.governance,
            parsedOrRefuse(retireRequestSchema, raw, 'retire'),
            operatorActs.retire,
            product.signatureContext(),
          ),
        ),
      ),
    },
  );
}

/** Parse an update's argument or refuse it with the schema's reason (`InvalidRequest`). */
function parsedOrRefuse<T>(schema: Parameters<typeof parseMessage<T>>[0], raw: unknown, what: string): T {
  const parsed = parseMessage(schema, raw, `${what} request`);
  if (!parsed.ok) refuse({ type: 'InvalidRequest', message: parsed.reason });
  return parsed.value;
}

/**
 * The next run's input. The spec travels once (top level), not again inside the carried state, so a
 * spec near the cap (MAX_SPEC_BYTES) fits with room to spare; histories from before the patch carried it twice.
 */
function nextRunInput(product: Product, maxHistoryEvents: number | undefined): DataProductInput {
  const carried = { ...product.state, continuedAsNew: product.state.continuedAsNew + 1 };
  const { spec: _spec, ...carriedWithoutSpec } = carried;
  return {
    spec: product.state.spec,
    ...(maxHistoryEvents !== undefined ? { maxHistoryEvents } : {}),
    carried: wf.patched('carried-spec-once') ? carriedWithoutSpec : carried,
  };
}
