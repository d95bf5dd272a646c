using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Hbone.Ztunnel.Cni.Agent;
using k8s.Models;

namespace Hbone.Ztunnel.Cni.Kubernetes;

/// <summary>
/// istio-cni's record of enrollment on the pod: <c>ambient.istio.io/redirection: enabled</c> once enrolled, removed
/// when un-enrolled, by a JSON merge patch on the <c>pods/status</c> subresource (so the agent needs no update on pods).
/// </summary>
internal sealed class RedirectionAnnotation(k8s.Kubernetes client, AgentLog log)
{
    public const string Name = "ambient.istio.io/redirection";

    /// <summary>Sets the annotation to <paramref name="value"/>, or removes it when null; a failure is logged, not thrown (the pod's capture does not depend on it).</summary>
    public async Task SetAsync(V1Pod pod, string? value, CancellationToken cancellationToken)
    {
        var path = $"api/v1/namespaces/{Uri.EscapeDataString(pod.Metadata.NamespaceProperty ?? "default")}/pods/{Uri.EscapeDataString(pod.Metadata.Name)}/status";
        var patch = Patch(value);
        try
        {
            using var content = new ByteArrayContent(patch);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/merge-patch+json");
            using var response = await KubernetesRequests.SendAsync(client, HttpMethod.Patch, path, content, cancellationToken).ConfigureAwait(false);

            // A pod already gone has nothing to annotate.
            if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.NotFound)
            {
                log.Error($"kubernetes: cannot annotate {pod.Metadata.NamespaceProperty}/{pod.Metadata.Name}: HTTP {(int)response.StatusCode}");
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            log.Error($"kubernetes: cannot annotate {pod.Metadata.NamespaceProperty}/{pod.Metadata.Name}: {ex.Message}");
        }
    }

    /// <summary><c>{"metadata":{"annotations":{"ambient.istio.io/redirection":value}}}</c>; a null value deletes the key (RFC 7386).</summary>
    private static byte[] Patch(string? value)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteStartObject("annotations");
            if (value is null)
            {
                json.WriteNull(Name);
            }
            else
            {
                json.WriteString(Name, value);
            }

            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
