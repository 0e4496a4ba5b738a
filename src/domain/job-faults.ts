import type { ProductJobState } from './creation';

/**
 * Why a product's Flink job (its creation job or its Flink materialization) is down: the
 * platform's fault (a lost TaskManager, no slot, an unreachable broker or catalog, a restarted
 * JobManager or gateway, a job the JobManager forgot) or the job's own (its SQL, its data, a
 * deleted output topic). The workflow redeploys after the platform's faults, from the last
 * retained checkpoint; the job's own faults leave the product `degraded` with the reason. Pure.
 */

export type FaultSource = 'platform' | 'own';

export type JobFault = Readonly<{ source: FaultSource; reason: string }>;

/** What the classifier is told about one job, as the workflow last looked at it. */
export type JobFaultInput = Readonly<{
  /** `creation` (the product's SQL job) or `materialization` (its table). */
  job: 'creation' | 'materialization';
  jobName: string;
  state: ProductJobState;
  /** Flink's root exception (one line), when the job failed. */
  failure?: string;
  /** False when the product's output topic is gone (a deleted topic is the product's fault). */
  outputTopicExists?: boolean;
}>;

/**
 * The job's own faults, checked first: its SQL or types (Flink's planner and code generation,
 * a value its expressions cannot take), its records, its topics gone or refused, its table's
 * schema. A restart cannot fix them; they are the same on any platform.
 */
const ownFaults: readonly RegExp[] = [
  /\b(ValidationException|SqlParserException|SqlValidatorException|CodeGenException|TableException)\b/,
  /\b(NumberFormatException|ArithmeticException|ClassCastException|NullPointerException|ArrayIndexOutOfBoundsException|DateTimeException)\b/,
  /\b(JsonParseException|SerializationException|RecordTooLargeException|InvalidRecordException)\b/,
  /\b(UnknownTopicOrPartitionException|InvalidTopicException|TopicAuthorizationException|GroupAuthorizationException|TransactionalIdAuthorizationException|SaslAuthenticationException|AuthenticationException)\b/,
  /\bdoes not host this topic-partition\b/i,
  /\b(Failed to deserialize|Magic number does not match|Unknown data format)\b/i,
  /\b(NoSuchTableException|NoSuchNamespaceException|CommitFailedException)\b/,
  /\bCannot (find|write|parse)\b/,
];

/**
 * The platform's faults: a TaskManager lost or refusing slots, the JobManager or its leadership
 * gone, the network or a broker or the catalog not answering, a transaction fenced by a broker
 * restart. A redeploy from the last checkpoint recovers from them once the platform answers.
 */
const platformFaults: readonly RegExp[] = [
  /\b(TaskManager|TaskExecutor|task ?manager|JobManager|ResourceManager|JobMaster)\b/i,
  /\b(NoResourceAvailableException|PartitionNotFoundException|RemoteTransportException|LocalTransportException|PartitionConnectionException|RecipientUnreachableException|AskTimeoutException|FlinkJobNotFoundException|JobNotFoundException)\b/,
  /\bslot\b.*\b(request|timed out|not fulfillable|available)\b/i,
  /\bheartbeat\b.*\btimed out\b/i,
  /\bkafka\.common\.errors\.(TimeoutException|DisconnectException|NetworkException|NotLeaderOrFollowerException|LeaderNotAvailableException|CoordinatorNotAvailableException|NotCoordinatorException|NotEnoughReplicasException|BrokerNotAvailableException|ProducerFencedException|InvalidPidMappingException|InvalidProducerEpochException|TransactionAbortedException|InvalidTxnStateException|ConcurrentTransactionsException)\b/,
  /\b(ProducerFencedException|InvalidPidMappingException|TimeoutException|DisconnectException|NetworkException)\b/,
  /\b(ConnectException|NoRouteToHostException|UnknownHostException|SocketTimeoutException|ClosedChannelException|EOFException|HttpHostConnectException|NoHttpResponseException)\b/,
  /\b(Connection (refused|reset|closed)|Broken pipe|not present in metadata|Failed to (list|fetch) offsets|Timeout of \d+ms expired|Service Unavailable|Bad Gateway)\b/i,
];

/**
 * Classify a job that is down for good (Flink gave up, or never heard of it): undefined while it
 * runs, or while Flink is still restarting it (Flink's own restarts come first).
 */
export function jobFaultOf(input: JobFaultInput): JobFault | undefined {
  const { job, jobName, state } = input;
  const what = job === 'creation' ? `the Flink job ${jobName}` : `the materialization job ${jobName}`;
  switch (state) {
    case 'NOT_FOUND':
      return {
        source: 'platform',
        reason: `${what} no longer exists in Flink (a restarted JobManager forgets its jobs)`,
      };
    case 'SUSPENDED':
      return { source: 'platform', reason: `${what} is SUSPENDED (its JobManager lost leadership)` };
    case 'CANCELED':
    case 'FINISHED':
      // Meshloop stops jobs with a savepoint and says so; one ended by someone else is not the platform's.
      return { source: 'own', reason: `${what} is ${state}, ended outside Meshloop's workflow` };
    case 'FAILED':
      return failedFault(input, what);
    default:
      return undefined;
  }
}

function failedFault(input: JobFaultInput, what: string): JobFault {
  const failure = input.failure ?? '';
  const said = failure ? `: ${failure}` : '';
  if (input.outputTopicExists === false) {
    return { source: 'own', reason: `${what} is FAILED and its output topic is gone${said}` };
  }
  if (ownFaults.some((pattern) => pattern.test(failure))) {
    return { source: 'own', reason: `${what} is FAILED (its own SQL or data)${said}` };
  }
  if (platformFaults.some((pattern) => pattern.test(failure))) {
    return { source: 'platform', reason: `${what} is FAILED (the platform)${said}` };
  }
  // Not recognised as the platform's: a person looks, as before automatic recovery.
  return { source: 'own', reason: `${what} is FAILED${said}` };
}
