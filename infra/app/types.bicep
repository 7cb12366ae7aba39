// Shared types and pure functions, imported by main.bicep and the modules.
// Nothing here deploys anything.

@export()
@description('A client of the proxy. Only the SHA-256 of its key is configured in Azure, never the key.')
type clientConfig = {
  @description('Name the calls are billed to; becomes Clients__<name>__*. App setting names allow letters, digits, "." and "_" only.')
  @minLength(1)
  name: string

  @description('Lowercase hex SHA-256 of the client key: printf %s "$KEY" | sha256sum')
  @minLength(64)
  @maxLength(64)
  keySha256: string

  @description('Optional limit in requests per minute; unset means none.')
  @minValue(0)
  requestsPerMinute: int?
}

@export()
@description('One model price override in USD per 1M tokens. Each field is optional; the built-in table fills the rest.')
type modelPrice = {
  // Bicep has no decimal type and prices are decimals (0.15), so each value is passed
  // through as given (number or string) and written with decimalText().
  #disable-next-line no-explicit-any
  input: any?
  #disable-next-line no-explicit-any
  output: any?
  #disable-next-line no-explicit-any
  cachedInput: any?
  #disable-next-line no-explicit-any
  cacheWrite: any?
  #disable-next-line no-explicit-any
  cacheWrite1h: any?
}

@export()
@description('A budget; becomes Budgets__Items__<name>__*.')
type budgetConfig = {
  @description('Budget name. App setting names allow letters, digits, "." and "_" only.')
  @minLength(1)
  name: string

  @description('global, client:<client>, model:<model>, tag:<tag> or user:<user>.')
  scope: string

  period: 'day' | 'month'

  // A USD amount is a decimal (12.5); see modelPrice.
  #disable-next-line no-explicit-any
  limitUsd: any

  @description('Percents of the limit that notify, e.g. [50, 80, 100] (the app default).')
  thresholds: int[]?

  action: ('notify' | 'block' | 'downgrade' | 'shadow')?

  @description('The cheaper model used when action is downgrade.')
  downgradeTo: string?

  @description('With action block: reserve each call\'s worst case before forwarding it, so the budget holds under any concurrency.')
  reserve: bool?
}

@export()
@description('A webhook. Url and secret are secrets: they go to Key Vault and the app setting is a Key Vault reference.')
type webhookConfig = {
  @description('Receiver URL; it often carries a token.')
  url: string

  format: ('feishu' | 'dingtalk' | 'slack' | 'teams' | 'generic')?

  @description('Signing secret, for formats that sign (feishu, dingtalk).')
  secret: string?
}

@export()
@description('What the app module needs to know about a webhook: no URL, no secret.')
type webhookRoute = {
  name: string
  format: string
  urlSecretName: string
  @description('Empty when the webhook has no signing secret.')
  signingSecretName: string
}

@export()
@description('Key Vault secret name for a webhook part. Secret names allow letters, digits and "-"; app setting names do not allow "-", so "_" and "." map to "-".')
func webhookSecretName(webhookName string, part string) string =>
  'webhook-${toLower(replace(replace(webhookName, '_', '-'), '.', '-'))}-${part}'

@export()
@description('Text of a USD amount given as a number (12.5) or a string ("12.5"). ARM\'s string() rejects floats; format() takes them.')
#disable-next-line no-explicit-any
func decimalText(value any) string => format('{0}', value)

@export()
@description('An App Service setting-name segment for any name: characters other than letters, digits, "." and "_" that model names use become "_".')
func safeSettingName(name string) string => replace(replace(replace(replace(name, '-', '_'), '/', '_'), ':', '_'), ' ', '_')
