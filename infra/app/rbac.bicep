// Role assignments. The app identity gets data-plane roles only (no Storage Account
// Contributor, no Owner): blob and table data for the Functions host and the app's
// tables (no queue role: no trigger here uses queues), secrets read for Key Vault
// references, metrics publish for Entra-only Application Insights. The deploying user
// optionally gets readers on blobs and tables to inspect records and packages (writers
// when asked): azd deploys to Flex through the platform, which uploads the package
// with the app's identity.

param storageAccountName string
param keyVaultName string
param applicationInsightsName string

@description('Principal id of the app\'s user-assigned identity.')
param appPrincipalId string

@description('Principal id of the deploying user or pipeline; empty: no roles for it.')
param deployerPrincipalId string

@allowed([
  'User'
  'ServicePrincipal'
])
param deployerPrincipalType string

@description('read: Blob and Table Data Reader; write: Blob and Table Data Contributor.')
@allowed([
  'read'
  'write'
])
param deployerDataAccess string

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Built-in role definitions (the ids are the same in every tenant and cloud).
resource storageBlobDataOwner 'Microsoft.Authorization/roleDefinitions@2022-04-01' existing = {
  scope: subscription()
  name: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
}

resource storageTableDataContributor 'Microsoft.Authorization/roleDefinitions@2022-04-01' existing = {
  scope: subscription()
  name: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

resource storageBlobDataReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' existing = {
  scope: subscription()
  name: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
}

resource storageBlobDataContributor 'Microsoft.Authorization/roleDefinitions@2022-04-01' existing = {
  scope: subscription()
  name: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
}

resource storageTableDataReader 'Microsoft.Authorization/roleDefinitions@2022-04-01' existing = {
  scope: subscription()
  name: '76199698-9eea-4c19-bc75-cec21354c6b6'
}

resource keyVaultSecretsUser 'Microsoft.Authorization/roleDefinitions@2022-04-01' existing = {
  scope: subscription()
  name: '4633458b-17de-408a-b874-0445c86b69e6'
}

resource monitoringMetricsPublisher 'Microsoft.Authorization/roleDefinitions@2022-04-01' existing = {
  scope: subscription()
  name: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// Host storage (AzureWebJobsStorage: blobs for keys and leases, the Flex deployment package).
resource appBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageBlobDataOwner.id)
  scope: storage
  properties: {
    roleDefinitionId: storageBlobDataOwner.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The app's records, aggregates, rollups and budget events.
resource appTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, storageTableDataContributor.id)
  scope: storage
  properties: {
    roleDefinitionId: storageTableDataContributor.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault references (keyVaultReferenceIdentity is this identity).
resource appKeyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, appPrincipalId, keyVaultSecretsUser.id)
  scope: vault
  properties: {
    roleDefinitionId: keyVaultSecretsUser.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Telemetry to Application Insights with local auth disabled.
resource appMonitoringMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appPrincipalId, monitoringMetricsPublisher.id)
  scope: applicationInsights
  properties: {
    roleDefinitionId: monitoringMetricsPublisher.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

var deployerRoles = deployerDataAccess == 'write'
  ? [storageBlobDataContributor.id, storageTableDataContributor.id]
  : [storageBlobDataReader.id, storageTableDataReader.id]

resource deployerData 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in (empty(deployerPrincipalId) ? [] : deployerRoles): {
    name: guid(storage.id, deployerPrincipalId, role)
    scope: storage
    properties: {
      roleDefinitionId: role
      principalId: deployerPrincipalId
      principalType: deployerPrincipalType
    }
  }
]
