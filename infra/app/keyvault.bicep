// Key Vault (RBAC mode) holding every secret the app reads. The app settings only hold
// Key Vault references, resolved by the platform with the app's user-assigned identity.

import { webhookConfig, webhookSecretName } from 'types.bicep'

param name string
param location string
param tags object

@description('True: public traffic refused; the app reaches the vault through a private endpoint.')
param vnetEnabled bool

@secure()
param upstreamApiKey string

@description('Bearer token for /metrics; empty: no secret is created.')
@secure()
param metricsBearerToken string

@description('Webhooks by name.')
@secure()
param webhooks { *: webhookConfig }

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    // Short retention and no purge protection so `azd down --purge` can remove the vault;
    // turn purge protection on for a long-lived production vault.
    softDeleteRetentionInDays: 7
    // With the private option, reached only through private endpoints (network.bicep).
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: vnetEnabled ? 'None' : 'AzureServices'
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
    }
  }
}

resource upstreamApiKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'upstream-api-key'
  properties: {
    value: upstreamApiKey
    contentType: 'text/plain'
  }
}

resource metricsBearerTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(metricsBearerToken)) {
  parent: vault
  name: 'metrics-bearer-token'
  properties: {
    value: metricsBearerToken
    contentType: 'text/plain'
  }
}

resource webhookUrlSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [
  for webhook in items(webhooks): {
    parent: vault
    name: webhookSecretName(webhook.key, 'url')
    properties: {
      value: webhook.value.url
      contentType: 'text/plain'
    }
  }
]

resource webhookSigningSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [
  for webhook in filter(items(webhooks), w => !empty(w.value.?secret ?? '')): {
    parent: vault
    name: webhookSecretName(webhook.key, 'secret')
    properties: {
      value: webhook.value.secret!
      contentType: 'text/plain'
    }
  }
]

output name string = vault.name
@description('Ends with "/".')
output vaultUri string = vault.properties.vaultUri
