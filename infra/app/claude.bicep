// An existing Azure AI Foundry (AI Services) account with Claude deployments, which the app calls with its managed
// identity (token scope https://ai.azure.com/.default): the app's identity gets Cognitive Services User on that
// account, nothing more (inference only; no keys, no management).

@description('Name of the AI Services (Foundry) account in this resource group.')
param accountName string

@description('Principal id of the app\'s user-assigned identity.')
param appPrincipalId string

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' existing = {
  name: accountName
}

resource cognitiveServicesUser 'Microsoft.Authorization/roleDefinitions@2022-04-01' existing = {
  scope: subscription()
  name: 'a97b65f3-24c7-4388-baec-2e87135dc908'
}

resource appCognitiveServicesUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, appPrincipalId, cognitiveServicesUser.id)
  scope: account
  properties: {
    roleDefinitionId: cognitiveServicesUser.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}
