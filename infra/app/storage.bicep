// Storage for the Functions host (AzureWebJobsStorage), the deployment package and the
// app's tables. Shared keys are off: everything goes through Entra ID (rbac.bicep).

param name string
param location string
param tags object

@description('Blob container the Flex Consumption plan deploys the package to.')
param deploymentContainerName string

@description('True: public traffic refused; the app reaches the account through private endpoints.')
param vnetEnabled bool

// The app's fixed tables (functions/LlmFunctions.Core/Records/TableNames.cs). Call records go to one table per
// UTC day, LlmCallsyyyyMMdd, which the app creates on first write (Storage Table Data Contributor may) and drops
// after Storage__RetentionDays.
var tableNames = [
  'LlmAggregates'
  'LlmRollups'
  'LlmBudgetEvents'
  'LlmTail'
  'LlmKeys'
]

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    // With the private option, reached only through private endpoints (network.bicep).
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: vnetEnabled ? 'None' : 'AzureServices'
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
    }
  }

  resource blobServices 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }

  resource tableServices 'tableServices' = {
    name: 'default'

    resource tables 'tables' = [
      for tableName in tableNames: {
        name: tableName
      }
    ]
  }
}

output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output tableEndpoint string = storage.properties.primaryEndpoints.table
