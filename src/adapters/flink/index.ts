export { explainServerTrace, FlinkRequestError, FlinkStatementError } from './errors';
export { FlinkRestClient, terminalJobStates } from './rest';
export type {
  ClusterOverview,
  JobDetail,
  JobExceptions,
  JobState,
  JobSummary,
  JobVertex,
  SavepointResult,
} from './rest';
export { SqlGatewayClient, SqlGatewaySession } from './sql-gateway';
export type {
  OperationStatus,
  RawRow,
  ResultColumn,
  ResultPage,
  SqlGatewayClientOptions,
  StatementOptions,
  StatementResult,
} from './sql-gateway';
