namespace Hbone.Ztunnel.Cni.Kubernetes;

/// <summary>Requests made by hand over the client's HttpClient and credentials (the AOT client has no watch, and its typed calls buffer).</summary>
internal static class KubernetesRequests
{
    /// <summary>Sends <paramref name="pathAndQuery"/> (relative to the API server) with the client's credentials; the caller reads the body as it streams.</summary>
    public static async Task<HttpResponseMessage> SendAsync(k8s.Kubernetes client, HttpMethod method, string pathAndQuery, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(client.BaseUri, pathAndQuery)) { Content = content };
        if (client.Credentials is { } credentials)
        {
            await credentials.ProcessHttpRequestAsync(request, cancellationToken).ConfigureAwait(false);
        }

        return await client.HttpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
    }
}
