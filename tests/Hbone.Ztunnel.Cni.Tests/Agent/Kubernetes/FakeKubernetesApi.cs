using System.Globalization;
using System.Net;
using System.Text;
using System.Threading.Channels;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Cni.Tests.Agent.Kubernetes;

/// <summary>
/// A fake API server for pods and namespaces, on the real wire format: a JSON list with metadata.resourceVersion; a
/// chunked watch with one event per line, replay after the requested version, a BOOKMARK before the clean close at
/// timeoutSeconds; an expired version answered with HTTP 410, or an ERROR 410 event then close. It logs every request.
/// </summary>
internal sealed class FakeKubernetesApi : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, V1Pod> _pods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, V1Namespace> _namespaces = new(StringComparer.Ordinal);
    private readonly List<(long Version, string Resource, string? Node, string Line)> _history = [];
    private readonly List<Watcher> _watchers = [];
    private readonly List<string> _requests = [];
    private long _version = 100;
    private long _compactedBelow;
    private bool _paused;

    private FakeKubernetesApi(WebApplication app) => _app = app;

    public Uri Address { get; private set; } = null!;

    /// <summary>Every request as "GET /path?query", in order.</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    public static async Task<FakeKubernetesApi> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var fake = new FakeKubernetesApi(app);
        app.MapGet("/api/v1/pods", context => fake.ServeAsync(context, "pods"));
        app.MapGet("/api/v1/namespaces", context => fake.ServeAsync(context, "namespaces"));
        app.MapMethods("/api/v1/namespaces/{ns}/pods/{name}/status", ["PATCH"], context => fake.PatchStatusAsync(context));
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        fake.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return fake;
    }

    /// <summary>Adds or replaces a pod (ADDED or MODIFIED to the watchers).</summary>
    public void Apply(V1Pod pod)
    {
        lock (_gate)
        {
            var type = _pods.ContainsKey(pod.Metadata.Uid) ? "MODIFIED" : "ADDED";
            pod.Metadata.ResourceVersion = Next();
            _pods[pod.Metadata.Uid] = pod;
            Publish("pods", pod.Spec?.NodeName, type, WithKind(pod));
        }
    }

    public void Apply(V1Namespace item)
    {
        lock (_gate)
        {
            var type = _namespaces.ContainsKey(item.Metadata.Name) ? "MODIFIED" : "ADDED";
            item.Metadata.ResourceVersion = Next();
            _namespaces[item.Metadata.Name] = item;
            Publish("namespaces", null, type, WithKind(item));
        }
    }

    /// <summary>Deletes a pod (DELETED with its last state).</summary>
    public void DeletePod(string uid)
    {
        lock (_gate)
        {
            if (_pods.Remove(uid, out var pod))
            {
                pod.Metadata.ResourceVersion = Next();
                pod.Metadata.DeletionTimestamp = DateTime.UtcNow;
                Publish("pods", pod.Spec?.NodeName, "DELETED", WithKind(pod));
            }
        }
    }

    /// <summary>The pod's annotation as the agent's patches left it; null when absent (or no such pod).</summary>
    public string? AnnotationOf(string uid, string name)
    {
        lock (_gate)
        {
            return _pods.TryGetValue(uid, out var pod) && pod.Metadata.Annotations?.TryGetValue(name, out var value) == true ? value : null;
        }
    }

    /// <summary>Events from now on are kept from the open watches (a partition): they see them only by relisting.</summary>
    public void PauseWatches()
    {
        lock (_gate)
        {
            _paused = true;
        }
    }

    /// <summary>
    /// Expires every version seen so far (as etcd compaction does): open watches are closed, with an ERROR 410 event
    /// first when <paramref name="errorEvent"/>, and a watch from an older version is answered HTTP 410. Resumes delivery.
    /// </summary>
    public void ExpireWatches(bool errorEvent)
    {
        lock (_gate)
        {
            _paused = false;
            _compactedBelow = _version;
            _history.Clear();
            foreach (var watcher in _watchers)
            {
                if (errorEvent)
                {
                    watcher.Lines.Writer.TryWrite("""{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":"Expired","code":410}}""");
                }

                watcher.Lines.Writer.TryComplete();
            }

            _watchers.Clear();
        }
    }

    public static V1Namespace Namespace(string name, string? dataplaneMode = null) => new()
    {
        Metadata = new V1ObjectMeta
        {
            Name = name,
            Uid = Guid.NewGuid().ToString(),
            Labels = dataplaneMode is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["istio.io/dataplane-mode"] = dataplaneMode },
        },
    };

    private string Next() => (++_version).ToString(CultureInfo.InvariantCulture);

    private void Publish(string resource, string? node, string type, IKubernetesObject item)
    {
        var line = $$"""{"type":"{{type}}","object":{{KubernetesJson.Serialize(item)}}}""";
        _history.Add((_version, resource, node, line));
        if (_paused)
        {
            return;
        }

        foreach (var watcher in _watchers)
        {
            if (watcher.Resource == resource && (watcher.Node is null || watcher.Node == node))
            {
                watcher.Lines.Writer.TryWrite(line);
            }
        }
    }

    private async Task ServeAsync(HttpContext context, string resource)
    {
        var query = context.Request.Query;
        lock (_gate)
        {
            _requests.Add($"GET {context.Request.Path}{context.Request.QueryString}");
        }

        string? node = null;
        if (query["fieldSelector"].ToString() is { Length: > 0 } selector)
        {
            if (resource != "pods" || !selector.StartsWith("spec.nodeName=", StringComparison.Ordinal))
            {
                await StatusAsync(context, HttpStatusCode.BadRequest, "BadRequest", $"field label not supported: {selector}");
                return;
            }

            node = selector["spec.nodeName=".Length..];
        }

        if (query["watch"].ToString() is "true" or "1")
        {
            await WatchAsync(context, resource, node);
        }
        else
        {
            await ListAsync(context, resource, node);
        }
    }

    /// <summary>A JSON merge patch of the pod's annotations on pods/status, as istio-cni sends (other fields are not patched here).</summary>
    private async Task PatchStatusAsync(HttpContext context)
    {
        var podNamespace = (string)context.Request.RouteValues["ns"]!;
        var name = (string)context.Request.RouteValues["name"]!;
        using var patch = await System.Text.Json.JsonDocument.ParseAsync(context.Request.Body);
        string body;
        lock (_gate)
        {
            _requests.Add($"PATCH {context.Request.Path} {context.Request.ContentType} {patch.RootElement.GetRawText()}");
            var pod = _pods.Values.FirstOrDefault(p => p.Metadata.NamespaceProperty == podNamespace && p.Metadata.Name == name);
            if (pod is null || context.Request.ContentType != "application/merge-patch+json; charset=utf-8" && context.Request.ContentType != "application/merge-patch+json")
            {
                body = string.Empty;
            }
            else
            {
                var annotations = pod.Metadata.Annotations is null ? new Dictionary<string, string>() : new Dictionary<string, string>(pod.Metadata.Annotations);
                foreach (var entry in patch.RootElement.GetProperty("metadata").GetProperty("annotations").EnumerateObject())
                {
                    if (entry.Value.ValueKind == System.Text.Json.JsonValueKind.Null)
                    {
                        annotations.Remove(entry.Name);
                    }
                    else
                    {
                        annotations[entry.Name] = entry.Value.GetString()!;
                    }
                }

                pod.Metadata.Annotations = annotations;
                pod.Metadata.ResourceVersion = Next();
                Publish("pods", pod.Spec?.NodeName, "MODIFIED", WithKind(pod));
                body = KubernetesJson.Serialize(pod);
            }
        }

        if (body.Length == 0)
        {
            await StatusAsync(context, HttpStatusCode.NotFound, "NotFound", $"pods \"{name}\" not found");
            return;
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body);
    }

    private async Task ListAsync(HttpContext context, string resource, string? node)
    {
        string body;
        lock (_gate)
        {
            var items = resource == "pods"
                ? _pods.Values.Where(p => node is null || p.Spec?.NodeName == node).Select(p => KubernetesJson.Serialize(p))
                : _namespaces.Values.Select(n => KubernetesJson.Serialize(n));
            var kind = resource == "pods" ? "PodList" : "NamespaceList";
            body = $$"""{"kind":"{{kind}}","apiVersion":"v1","metadata":{"resourceVersion":"{{_version}}"},"items":[{{string.Join(',', items)}}]}""";
        }

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body);
    }

    private async Task WatchAsync(HttpContext context, string resource, string? node)
    {
        var query = context.Request.Query;
        var since = long.TryParse(query["resourceVersion"], CultureInfo.InvariantCulture, out var v) ? v : 0;
        var timeout = TimeSpan.FromSeconds(int.TryParse(query["timeoutSeconds"], CultureInfo.InvariantCulture, out var t) ? t : 1800);
        var bookmarks = query["allowWatchBookmarks"] == "true";
        Watcher? watcher = null;
        lock (_gate)
        {
            if (since >= _compactedBelow)
            {
                watcher = new Watcher(resource, node);
                foreach (var (version, r, n, line) in _history)
                {
                    if (version > since && r == resource && (node is null || n == node))
                    {
                        watcher.Lines.Writer.TryWrite(line);
                    }
                }

                _watchers.Add(watcher);
            }
        }

        if (watcher is null)
        {
            await StatusAsync(context, HttpStatusCode.Gone, "Expired", $"too old resource version: {since}");
            return;
        }

        context.Response.ContentType = "application/json";
        await context.Response.StartAsync();
        using var closeAt = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        closeAt.CancelAfter(timeout);
        try
        {
            await foreach (var line in watcher.Lines.Reader.ReadAllAsync(closeAt.Token))
            {
                await WriteLineAsync(context, line);
            }
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            // timeoutSeconds reached: a bookmark with the current version, then a clean end of the body.
            if (bookmarks)
            {
                string version;
                lock (_gate)
                {
                    version = _version.ToString(CultureInfo.InvariantCulture);
                }

                var kind = resource == "pods" ? "Pod" : "Namespace";
                var bookmark = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"" + kind + "\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"" + version + "\"}}}";
                await WriteLineAsync(context, bookmark);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            lock (_gate)
            {
                _watchers.Remove(watcher);
            }
        }
    }

    private static async Task WriteLineAsync(HttpContext context, string line)
    {
        await context.Response.WriteAsync(line + "\n", Encoding.UTF8);
        await context.Response.Body.FlushAsync();
    }

    private static async Task StatusAsync(HttpContext context, HttpStatusCode code, string reason, string message)
    {
        context.Response.StatusCode = (int)code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync($$"""{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"{{message}}","reason":"{{reason}}","code":{{(int)code}}}""");
    }

    private static IKubernetesObject WithKind(V1Pod pod)
    {
        pod.Kind = "Pod";
        pod.ApiVersion = "v1";
        return pod;
    }

    private static IKubernetesObject WithKind(V1Namespace item)
    {
        item.Kind = "Namespace";
        item.ApiVersion = "v1";
        return item;
    }

    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            foreach (var watcher in _watchers)
            {
                watcher.Lines.Writer.TryComplete();
            }
        }

        using var stopDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stopDeadline.Token);
        await _app.DisposeAsync();
    }

    private sealed record Watcher(string Resource, string? Node)
    {
        public Channel<string> Lines { get; } = Channel.CreateUnbounded<string>();
    }
}
