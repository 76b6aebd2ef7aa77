/** Every command's id, in one module that imports nothing: the views run commands without importing what they do. */
export const COMMANDS = {
  showPanel: 'sessionCoordinator.showPanel',
  copyClientConfig: 'sessionCoordinator.copyClientConfig',
  endSession: 'sessionCoordinator.endSession',
  releaseClaim: 'sessionCoordinator.releaseClaim',
  exportDiagnostics: 'sessionCoordinator.exportDiagnostics',
  showLog: 'sessionCoordinator.showLog',
  restart: 'sessionCoordinator.restart',
  openSessionHistory: 'sessionCoordinator.openSessionHistory',
  setStorePassword: 'sessionCoordinator.setStorePassword',
  setupAgent: 'sessionCoordinator.setupAgent',
  sendMessage: 'sessionCoordinator.sendMessage',
} as const;
