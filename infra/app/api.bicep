// The hosting plan and the function app, with every app setting the code reads.
//
// App settings are the configuration contract with functions/LlmFunctions.Core/Options:
// each `Section__Property` below is bound by one options class, and
// tests/LlmFunctions.Tests/Infra/AppSettingsCoverageTests.cs fails when a bound key is
// missing here. Secrets are never values: they are Key Vault references resolved by
// the platform with the user-assigned identity (keyVaultReferenceIdentity).

import { budgetConfig, clientConfig, decimalText, modelPrice, safeSettingName, webhookRoute } from 'types.bicep'

param name string
param location string
param tags object

@description('Value of the azd-service-name tag; azd deploys the service with this name here.')
param serviceName string

param planName string

@allowed([
  'FlexConsumption'
  'ElasticPremium'
  'AppService'
])
param planType string

@description('Flex Consumption: memory per instance.')
@allowed([
  512
  2048
  4096
])
param flexInstanceMemoryMB int

@description('Flex Consumption: most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param flexMaximumInstanceCount int

@description('Flex Consumption: HTTP calls one instance takes at once.')
@minValue(1)
@maxValue(1000)
param flexHttpPerInstanceConcurrency int

@description('Flex Consumption: instances kept warm for HTTP; 0: none.')
@minValue(0)
@maxValue(20)
param flexAlwaysReadyInstances int

@description('Elastic Premium: most workers the plan scales out to.')
@minValue(1)
@maxValue(100)
param elasticMaximumWorkerCount int

@description('Elastic Premium only: blob URL of the package to run (WEBSITE_RUN_FROM_PACKAGE), read with the app identity. Empty: not set.')
param runFromPackageUrl string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('The private option: the app\'s outbound traffic leaves from virtualNetworkSubnetId.')
param vnetEnabled bool

@description('That subnet; empty without the private option.')
param virtualNetworkSubnetId string

param blobEndpoint string
param tableEndpoint string

@description('Blob container for the Flex Consumption deployment package.')
param deploymentContainerName string

param applicationInsightsConnectionString string

@description('Key Vault URI, ending with "/".')
param keyVaultUri string

// ---- App configuration (see the options classes for meaning and defaults) ----

param upstreamBaseUrl string
param upstreamTimeoutSeconds int
param upstreamMaxRetries int
param upstreamRetryBaseDelayMs int

@description('The Azure OpenAI v1 base URL the app calls with its managed identity (upstream "azure"); empty: none.')
param azureOpenAiBaseUrl string
param azureOpenAiModels string

@description('The Azure AI Foundry Anthropic base URL the app calls with its managed identity (upstream "claude"); empty: none.')
param azureClaudeBaseUrl string
param azureClaudeModels string
param proxyMaxRequestBodyBytes int
param clients clientConfig[]
param pricingOverrides { *: modelPrice }

@description('True when Key Vault holds the secret metrics-bearer-token.')
param metricsBearerTokenConfigured bool

param metricsMaxModels int
param metricsFoldLagSeconds int
param metricsTags string
param adminKeySha256 string
param storageRetentionDays int
param budgetsTimeZone string

@description('Budgets__DailySummary.')
param budgetsDailySummary bool
param budgetsSchedule string
param budgetsRefreshSeconds int

@description('Empty: no per-call cost guard.')
param budgetsMaxCostPerCallUsd string

param budgets budgetConfig[]
param webhooks webhookRoute[]

var isFlex = planType == 'FlexConsumption'

var planSkus = {
  FlexConsumption: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  ElasticPremium: {
    name: 'EP1'
    tier: 'ElasticPremium'
  }
  AppService: {
    name: 'P1v3'
    tier: 'PremiumV3'
  }
}

var planKinds = {
  FlexConsumption: 'functionapp'
  ElasticPremium: 'elastic'
  AppService: 'linux'
}

var secretsUri = '${keyVaultUri}secrets/'

// Identity-based host storage: no AzureWebJobsStorage connection string anywhere.
var hostSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // No queue endpoint: no trigger here uses queues (HTTP and a timer, whose lock is a blob lease).
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // DefaultAzureCredential in the app picks the user-assigned identity from this.
  AZURE_CLIENT_ID: identityClientId
}

// Flex Consumption takes the runtime from functionAppConfig and rejects these settings;
// the other plans need them.
var classicPlanSettings = isFlex
  ? {}
  : {
      FUNCTIONS_EXTENSION_VERSION: '~4'
      FUNCTIONS_WORKER_RUNTIME: 'dotnet-isolated'
    }

// Elastic Premium without an Azure Files content share (Azure Files has no identity-based
// access and shared keys are off): the app runs from a package URL read with its identity.
var runFromPackageSettings = planType == 'ElasticPremium' && !empty(runFromPackageUrl)
  ? {
      WEBSITE_RUN_FROM_PACKAGE: runFromPackageUrl
      WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID: identityId
    }
  : {}

var appSettings = {
  Upstream__BaseUrl: upstreamBaseUrl
  Upstream__ApiKey: '@Microsoft.KeyVault(SecretUri=${secretsUri}upstream-api-key)'
  Upstream__TimeoutSeconds: string(upstreamTimeoutSeconds)
  Upstream__MaxRetries: string(upstreamMaxRetries)
  Upstream__RetryBaseDelayMs: string(upstreamRetryBaseDelayMs)
  Storage__TableServiceUri: tableEndpoint
  // Functions may freeze or recycle an instance right after an invocation: a record must be durable before the
  // function returns, so this is not a parameter.
  Storage__AwaitRecordWrite: 'true'
  // An instance takes its temp disk (the spool) with it: a call is answered only once its record is in the table
  // (the app's default too, written here so the deployment says it).
  Storage__LocalDiskIsDurable: 'false'
  Proxy__MaxRequestBodyBytes: string(proxyMaxRequestBodyBytes)
  Metrics__MaxModels: string(metricsMaxModels)
  Metrics__FoldLagSeconds: string(metricsFoldLagSeconds)
  Metrics__Tags: metricsTags
  Admin__KeySha256: adminKeySha256
  Storage__RetentionDays: string(storageRetentionDays)
  Budgets__TimeZone: budgetsTimeZone
  Budgets__DailySummary: string(budgetsDailySummary)
  Budgets__Schedule: budgetsSchedule
  // What the timer binds (%BudgetsSchedule%): a flat name, since timers bound to nested ones fire unreliably when
  // scaled out or idle (Azure/azure-functions-host#8649). Budgets__Schedule, which the app checks, stays the same.
  BudgetsSchedule: budgetsSchedule
  Budgets__RefreshSeconds: string(budgetsRefreshSeconds)
}

// Optional settings are left out when unset, so the app's own default applies.
var metricsSettings = metricsBearerTokenConfigured
  ? { Metrics__BearerToken: '@Microsoft.KeyVault(SecretUri=${secretsUri}metrics-bearer-token)' }
  : {}

// No Upstreams__azure__ApiKey: the app's managed identity is the credential (Cognitive Services OpenAI User).
var azureOpenAiSettings = empty(azureOpenAiBaseUrl)
  ? {}
  : {
      Upstreams__azure__Kind: 'azure-openai'
      Upstreams__azure__BaseUrl: azureOpenAiBaseUrl
      Upstreams__azure__Models: azureOpenAiModels
    }

// No Upstreams__claude__ApiKey either: a managed-identity token for https://ai.azure.com/.default (Cognitive Services User).
var azureClaudeSettings = empty(azureClaudeBaseUrl)
  ? {}
  : {
      Upstreams__claude__Kind: 'azure-anthropic'
      Upstreams__claude__BaseUrl: azureClaudeBaseUrl
      Upstreams__claude__Models: azureClaudeModels
    }

var maxCostSettings = empty(budgetsMaxCostPerCallUsd) ? {} : { Budgets__MaxCostPerCallUsd: budgetsMaxCostPerCallUsd }

// Arrays and maps become one setting per field: each lambda yields {key, value} pairs,
// flattened and turned into an object.
var clientSettings = toObject(
  flatten(map(clients, c => [
    { key: 'Clients__${c.name}__KeySha256', value: toLower(c.keySha256) }
    ...(c.?requestsPerMinute == null
      ? []
      : [{ key: 'Clients__${c.name}__RequestsPerMinute', value: string(c.?requestsPerMinute) }])
  ])),
  s => s.key,
  s => s.value
)

// App Service setting names allow only letters, digits, '.' and '_', so a model such as gpt-4o-mini is keyed by a
// safe name and spelled out in Pricing__Models__<safe>__Model.
var pricingSettings = toObject(
  flatten(map(
    items(pricingOverrides),
    m => [
      { key: 'Pricing__Models__${safeSettingName(m.key)}__Model', value: m.key }
      ...(m.value.?input == null
        ? []
        : [{ key: 'Pricing__Models__${safeSettingName(m.key)}__Input', value: decimalText(m.value.?input) }])
      ...(m.value.?output == null
        ? []
        : [{ key: 'Pricing__Models__${safeSettingName(m.key)}__Output', value: decimalText(m.value.?output) }])
      ...(m.value.?cachedInput == null
        ? []
        : [{ key: 'Pricing__Models__${safeSettingName(m.key)}__CachedInput', value: decimalText(m.value.?cachedInput) }])
      ...(m.value.?cacheWrite == null
        ? []
        : [{ key: 'Pricing__Models__${safeSettingName(m.key)}__CacheWrite', value: decimalText(m.value.?cacheWrite) }])
      ...(m.value.?cacheWrite1h == null
        ? []
        : [{ key: 'Pricing__Models__${safeSettingName(m.key)}__CacheWrite1h', value: decimalText(m.value.?cacheWrite1h) }])
    ]
  )),
  s => s.key,
  s => s.value
)

var budgetSettings = toObject(
  flatten(map(budgets, b => [
    { key: 'Budgets__Items__${b.name}__Scope', value: b.scope }
    { key: 'Budgets__Items__${b.name}__Period', value: b.period }
    { key: 'Budgets__Items__${b.name}__LimitUsd', value: decimalText(b.limitUsd) }
    ...(b.?thresholds == null
      ? []
      : [{ key: 'Budgets__Items__${b.name}__Thresholds', value: join(map(b.?thresholds ?? [], t => string(t)), ',') }])
    ...(b.?action == null ? [] : [{ key: 'Budgets__Items__${b.name}__Action', value: b.?action }])
    ...(b.?downgradeTo == null ? [] : [{ key: 'Budgets__Items__${b.name}__DowngradeTo', value: b.?downgradeTo }])
    ...(b.?reserve == null ? [] : [{ key: 'Budgets__Items__${b.name}__Reserve', value: string(b.?reserve) }])
  ])),
  s => s.key,
  s => s.value
)

var webhookSettings = toObject(
  flatten(map(webhooks, w => [
    { key: 'Webhooks__${w.name}__Url', value: '@Microsoft.KeyVault(SecretUri=${secretsUri}${w.urlSecretName})' }
    { key: 'Webhooks__${w.name}__Format', value: w.format }
    ...(empty(w.signingSecretName)
      ? []
      : [
          {
            key: 'Webhooks__${w.name}__Secret'
            value: '@Microsoft.KeyVault(SecretUri=${secretsUri}${w.signingSecretName})'
          }
        ])
  ])),
  s => s.key,
  s => s.value
)

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  sku: planSkus[planType]
  kind: planKinds[planType]
  properties: {
    reserved: true // Linux
    maximumElasticWorkerCount: planType == 'ElasticPremium' ? elasticMaximumWorkerCount : null
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    // Null without the private option, as the azd Flex quickstart sends it (Flex takes this key as null).
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    functionAppConfig: isFlex
      ? {
          deployment: {
            storage: {
              type: 'blobContainer'
              value: '${blobEndpoint}${deploymentContainerName}'
              authentication: {
                type: 'UserAssignedIdentity'
                userAssignedIdentityResourceId: identityId
              }
            }
          }
          scaleAndConcurrency: union(
            {
              instanceMemoryMB: flexInstanceMemoryMB
              maximumInstanceCount: flexMaximumInstanceCount
              triggers: {
                http: {
                  perInstanceConcurrency: flexHttpPerInstanceConcurrency
                }
              }
            },
            flexAlwaysReadyInstances == 0 ? {} : { alwaysReady: [{ name: 'http', instanceCount: flexAlwaysReadyInstances }] }
          )
          runtime: {
            name: 'dotnet-isolated'
            version: '10.0'
          }
        }
      : null
    // Flex refuses linuxFxVersion (even null) and ftpsState with ARM error 51021 in newer regions
    // (Azure/terraform-azurerm-avm-res-web-site#345): on Flex those keys are absent, not null.
    siteConfig: union(
      {
        // App Service plans idle the app without it; Flex and Elastic Premium scale on their own.
        alwaysOn: planType == 'AppService'
        minTlsVersion: '1.2'
        scmMinTlsVersion: '1.2'
        http20Enabled: true
      },
      isFlex ? {} : { linuxFxVersion: 'DOTNET-ISOLATED|10.0', ftpsState: 'Disabled' },
      // Elastic Premium and App Service send only private ranges through the subnet unless told; Flex routes all of it.
      isFlex || !vnetEnabled ? {} : { vnetRouteAllEnabled: true }
    )
  }
}

resource appSettingsConfig 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: site
  name: 'appsettings'
  properties: union(
    hostSettings,
    classicPlanSettings,
    runFromPackageSettings,
    appSettings,
    metricsSettings,
    maxCostSettings,
    azureOpenAiSettings,
    azureClaudeSettings,
    clientSettings,
    pricingSettings,
    budgetSettings,
    webhookSettings
  )
}

// No basic (user/password) publishing: azd and az deploy with Entra ID tokens.
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
