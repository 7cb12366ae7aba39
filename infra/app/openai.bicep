// An existing Azure OpenAI (AI Foundry) account the app calls with its managed identity:
// the app's identity gets Cognitive Services OpenAI User on that account, nothing more
// (inference only; no keys, no management).

@description('Name of the Azure OpenAI account in this resource group.')
param accountName string

@description('Principal id of the app\'s user-assigned identity.')
param appPrincipalId string

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: accountName
}

resource cognitiveServicesOpenAIUser 'Microsoft.Authorization/roleDefinitions@2022-04-01' existing = {
  scope: subscription()
  name: '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'
}

resource appOpenAIUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, appPrincipalId, cognitiveServicesOpenAIUser.id)
  scope: account
  properties: {
    roleDefinitionId: cognitiveServicesOpenAIUser.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}
