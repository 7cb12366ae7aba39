// LlmFunctions: the OpenAI-compatible metering proxy on Azure Functions (.NET 10 isolated).
//
//   resource group rg-<env>
//   ├─ identity    user-assigned identity the app runs as
//   ├─ monitoring  Log Analytics + Application Insights (Entra-only ingestion)
//   ├─ storage     host storage, deployment container, the app's tables (no shared keys)
//   ├─ keyvault    upstream key, metrics token, webhook URLs and secrets (RBAC mode)
//   ├─ rbac        data-plane roles for the identity (and optionally the deployer)
//   └─ api         plan (Flex Consumption by default) + function app + app settings
//
// Deploy with `azd up` (azure.yaml) or `az deployment sub create` (README.md, "Deploy to Azure").

targetScope = 'subscription'

import { budgetConfig, clientConfig, modelPrice, webhookConfig, webhookRoute, webhookSecretName } from 'app/types.bicep'

@minLength(1)
@maxLength(64)
@description('Name of the environment; names the resource group and seeds the unique resource names.')
param environmentName string

@minLength(1)
@description('Region for all resources. Flex Consumption is offered in the regions of flexRegions (and extraFlexRegions) only.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Regions Flex Consumption came to after this template\'s list (az functionapp list-flexconsumption-locations).')
param extraFlexRegions string[] = []

@description('Object id of the deploying user or pipeline; gets data roles on the storage account. Empty: skipped.')
param principalId string = ''

@description('What those roles let the deployer do with records and packages: read (Blob and Table Data Reader, the default) or write (Contributor).')
@allowed([
  'read'
  'write'
])
param principalDataAccess string = 'read'

@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('FlexConsumption (FC1, default), ElasticPremium (EP1) or AppService (P1v3). Long streams are proven on the last two.')
@allowed([
  'FlexConsumption'
  'ElasticPremium'
  'AppService'
])
param planType string = 'FlexConsumption'

@description('Flex Consumption: memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param flexInstanceMemoryMB int = 2048

@description('Flex Consumption: most instances the app scales out to (Flex accepts 40 to 1000).')
@minValue(40)
@maxValue(1000)
param flexMaximumInstanceCount int = 100

@description('Flex Consumption: HTTP calls one instance takes at once. LLM calls are long and wait on the upstream, so far more than Flex\'s default (16 at 2,048 MB).')
@minValue(1)
@maxValue(1000)
param flexHttpPerInstanceConcurrency int = 100

@description('Flex Consumption: instances kept warm for HTTP (billed while idle); 0: scale to zero, the first call after idle pays a cold start.')
@minValue(0)
@maxValue(20)
param flexAlwaysReadyInstances int = 0

@description('Elastic Premium: most workers the plan scales out to.')
@minValue(1)
@maxValue(100)
param elasticMaximumWorkerCount int = 20

@description('Private networking: the app in a virtual network, storage and Key Vault behind private endpoints with public access off. Off: all public, identity-only.')
param vnetEnabled bool = false

@description('Email that gets the Azure Monitor alerts (server errors, latency, records not stored, Key Vault reference failures); empty: the alerts fire in the portal only.')
param alertEmail string = ''

@description('Elastic Premium only: blob URL of the package to run (WEBSITE_RUN_FROM_PACKAGE), read with the app identity.')
param runFromPackageUrl string = ''

// ---- App configuration: each parameter becomes app settings (see app/api.bicep) ----

@description('Upstream__BaseUrl: OpenAI-compatible base URL including /v1.')
param upstreamBaseUrl string = 'https://api.holysheep.ai/v1'

@description('Upstream__ApiKey: the upstream key. Stored in Key Vault; the app setting is a Key Vault reference.')
@minLength(1)
@secure()
param upstreamApiKey string

@description('Upstream__TimeoutSeconds: time to headers and idle time between stream chunks.')
@minValue(1)
@maxValue(3600)
param upstreamTimeoutSeconds int = 60

@description('Upstream__MaxRetries: retries before the first byte reached the client.')
@minValue(0)
@maxValue(10)
param upstreamMaxRetries int = 3

@description('Upstream__RetryBaseDelayMs: first retry delay; later ones double.')
@minValue(0)
@maxValue(60000)
param upstreamRetryBaseDelayMs int = 2000

@description('Optional: an existing Azure OpenAI account the app calls with its managed identity (no key) as upstream "azure"; empty: none. Its custom subdomain must be its name.')
param azureOpenAiName string = ''

@description('Resource group of that account; empty: the app\'s.')
param azureOpenAiResourceGroup string = ''

@description('Upstreams__azure__Models: the models (deployment names) the Azure OpenAI account serves, comma-separated, e.g. gpt-4o,gpt-4o-mini.')
param azureOpenAiModels string = ''

@description('Optional: an existing Azure AI Foundry (AI Services) account with Claude deployments, which the app calls with its managed identity (no key) as upstream "claude" (Kind azure-anthropic, /v1/messages); empty: none.')
param azureClaudeName string = ''

@description('Resource group of that account; empty: the app\'s.')
param azureClaudeResourceGroup string = ''

@description('Upstreams__claude__Models: the Claude deployments the Foundry account serves, comma-separated, e.g. claude-sonnet-4-5,claude-haiku-4-5.')
param azureClaudeModels string = ''

@description('Proxy__MaxRequestBodyBytes: largest request body accepted (413 above).')
@minValue(1024)
@maxValue(268435456)
param proxyMaxRequestBodyBytes int = 4194304

@description('Clients__<name>__KeySha256 / __RequestsPerMinute. Only key hashes are configured in Azure.')
param clients clientConfig[] = []

@description('Pricing__Models__<model>__Input / __Output / __CachedInput / __CacheWrite / __CacheWrite1h in USD per 1M tokens, e.g. {"my-model": {"input": 1.0, "output": 2.0, "cachedInput": 0.5}}.')
param pricingOverrides { *: modelPrice } = {}

@description('Metrics__BearerToken: token a Prometheus scraper sends to /metrics. Stored in Key Vault. Empty: /metrics answers 401.')
@secure()
param metricsBearerToken string = ''

@description('Metrics__MaxModels: distinct model label values kept.')
@minValue(1)
@maxValue(10000)
param metricsMaxModels int = 50

@description('Metrics__FoldLagSeconds: records younger than this are added live at scrape time.')
@minValue(10)
@maxValue(3600)
param metricsFoldLagSeconds int = 60

@description('Metrics__Tags: comma-separated tags (from x-llm-tags) that get their own series in api_requests_by_tag_total and api_cost_by_tag_total. Empty: none.')
param metricsTags string = ''

@description('Admin__KeySha256: SHA-256 (64 hex characters) of the admin key that reads every client\'s spend at /spend. Empty: client keys read only their own spend.')
param adminKeySha256 string = ''

@description('Storage__RetentionDays: days of call records to keep (one table per UTC day); 0 keeps them forever. Metrics and budgets keep counting dropped days.')
@minValue(0)
@maxValue(36500)
param storageRetentionDays int = 0

@description('Budgets__DailySummary: send yesterday\'s spend by model and client to every webhook once a day.')
param budgetsDailySummary bool = false

@description('Budgets__TimeZone: IANA zone where a day or month starts.')
param budgetsTimeZone string = 'UTC'

@description('Budgets__Schedule: NCRONTAB (six fields) for the rollup timer.')
param budgetsSchedule string = '0 */5 * * * *'

@description('Budgets__RefreshSeconds: how often each instance re-reads the rollup to enforce block and downgrade budgets.')
@minValue(1)
@maxValue(3600)
param budgetsRefreshSeconds int = 5

@description('Budgets__MaxCostPerCallUsd: refuse a call whose worst-case cost exceeds this, e.g. "0.50". Empty: off.')
param budgetsMaxCostPerCallUsd string = ''

@description('Budgets__Items__<name>__*.')
param budgets budgetConfig[] = []

@description('Webhooks__<name>__Url / __Format / __Secret, by name. URL and secret go to Key Vault.')
@secure()
param webhooks { *: webhookConfig } = {}

// Regions that offered Flex Consumption when this list was taken (the azd Flex quickstart's, Azure-Samples/
// functions-quickstart-dotnet-azd); a deployment elsewhere fails before creating anything, naming the way out.
var flexRegions = [
  'australiaeast'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'northcentralus'
  'northeurope'
  'southcentralus'
  'southeastasia'
  'swedencentral'
  'uksouth'
  'westcentralus'
  'westeurope'
  'westus2'
]
var checkedLocation = planType != 'FlexConsumption' || contains(union(flexRegions, extraFlexRegions), location)
  ? location
  : fail('Flex Consumption is not offered in \'${location}\' as far as this template knows: choose one of ${join(flexRegions, ', ')}, add the region to extraFlexRegions if `az functionapp list-flexconsumption-locations` lists it, or set planType to ElasticPremium or AppService.')

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

// What the app module needs to know about each webhook: its name, format and the Key Vault
// secret names. The URL and signing secret themselves only reach the keyvault module.
var webhookRoutes webhookRoute[] = map(items(webhooks), w => {
  name: w.key
  format: w.value.?format ?? 'generic'
  urlSecretName: webhookSecretName(w.key, 'url')
  signingSecretName: empty(w.value.?secret ?? '') ? '' : webhookSecretName(w.key, 'secret')
})

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: checkedLocation
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package-${resourceToken}'
    vnetEnabled: vnetEnabled
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    upstreamApiKey: upstreamApiKey
    metricsBearerToken: metricsBearerToken
    webhooks: webhooks
    vnetEnabled: vnetEnabled
  }
}

module network 'app/network.bicep' = if (vnetEnabled) {
  name: 'network'
  scope: rg
  params: {
    location: location
    tags: tags
    vnetName: '${abbrs.networkVirtualNetworks}${resourceToken}'
    planType: planType
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
    deployerDataAccess: principalDataAccess
  }
}

// Cognitive Services OpenAI User for the app's identity on the Azure OpenAI account, if one is named.
module openai 'app/openai.bicep' = if (!empty(azureOpenAiName)) {
  name: 'openai'
  scope: resourceGroup(empty(azureOpenAiResourceGroup) ? rg.name : azureOpenAiResourceGroup)
  params: {
    accountName: azureOpenAiName
    appPrincipalId: identity.outputs.principalId
  }
}

// Cognitive Services User for the app's identity on the Foundry account serving Claude, if one is named.
module claude 'app/claude.bicep' = if (!empty(azureClaudeName)) {
  name: 'claude'
  scope: resourceGroup(empty(azureClaudeResourceGroup) ? rg.name : azureClaudeResourceGroup)
  params: {
    accountName: azureClaudeName
    appPrincipalId: identity.outputs.principalId
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: '${abbrs.webSitesFunctions}${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    planName: '${abbrs.webServerFarms}${resourceToken}'
    planType: planType
    flexInstanceMemoryMB: flexInstanceMemoryMB
    flexMaximumInstanceCount: flexMaximumInstanceCount
    flexHttpPerInstanceConcurrency: flexHttpPerInstanceConcurrency
    flexAlwaysReadyInstances: flexAlwaysReadyInstances
    elasticMaximumWorkerCount: elasticMaximumWorkerCount
    runFromPackageUrl: runFromPackageUrl
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    vnetEnabled: vnetEnabled
    virtualNetworkSubnetId: vnetEnabled ? network!.outputs.appSubnetId : ''
    blobEndpoint: storage.outputs.blobEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: 'app-package-${resourceToken}'
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    keyVaultUri: keyVault.outputs.vaultUri
    upstreamBaseUrl: upstreamBaseUrl
    upstreamTimeoutSeconds: upstreamTimeoutSeconds
    upstreamMaxRetries: upstreamMaxRetries
    upstreamRetryBaseDelayMs: upstreamRetryBaseDelayMs
    azureOpenAiBaseUrl: empty(azureOpenAiName) ? '' : 'https://${azureOpenAiName}.openai.azure.com/openai/v1'
    azureOpenAiModels: azureOpenAiModels
    azureClaudeBaseUrl: empty(azureClaudeName) ? '' : 'https://${azureClaudeName}.services.ai.azure.com/anthropic'
    azureClaudeModels: azureClaudeModels
    proxyMaxRequestBodyBytes: proxyMaxRequestBodyBytes
    clients: clients
    pricingOverrides: pricingOverrides
    metricsBearerTokenConfigured: !empty(metricsBearerToken)
    metricsMaxModels: metricsMaxModels
    metricsFoldLagSeconds: metricsFoldLagSeconds
    metricsTags: metricsTags
    adminKeySha256: adminKeySha256
    storageRetentionDays: storageRetentionDays
    budgetsTimeZone: budgetsTimeZone
    budgetsDailySummary: budgetsDailySummary
    budgetsSchedule: budgetsSchedule
    budgetsRefreshSeconds: budgetsRefreshSeconds
    budgetsMaxCostPerCallUsd: budgetsMaxCostPerCallUsd
    budgets: budgets
    webhooks: webhookRoutes
  }
  // The app starts resolving Key Vault references and reaching storage as soon as it
  // exists; let the roles it needs be in place first.
  dependsOn: [
    rbac
    openai
  ]
}

module operations 'app/operations.bicep' = {
  name: 'operations'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: monitoring.outputs.logAnalyticsName
    functionAppName: api.outputs.name
    keyVaultName: keyVault.outputs.name
    alertEmail: alertEmail
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output OPENAI_BASE_URL string = '${api.outputs.uri}/v1'
output METRICS_URL string = '${api.outputs.uri}/metrics'
