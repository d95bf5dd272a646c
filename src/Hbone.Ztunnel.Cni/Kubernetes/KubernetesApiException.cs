using System.Net;

namespace Hbone.Ztunnel.Cni.Kubernetes;

/// <summary>The API server answered a list or watch with an error (a <c>Status</c> other than 410, which means relist).</summary>
internal sealed class KubernetesApiException(HttpStatusCode statusCode, string message) : IOException(message)
{
    public HttpStatusCode StatusCode { get; } = statusCode;
}
