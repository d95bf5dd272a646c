using System.Net;
using System.Text.Json;
using k8s;
using k8s.Models;
using Hbone.Ztunnel.Cni.Agent;

namespace Hbone.Ztunnel.Cni.Kubernetes;

/// <summary>
/// client-go's reflector for one resource, by hand (the AOT Kubernetes client has no watch): list, then watch from the
/// list's resourceVersion with bookmarks; a clean close watches again from the last version seen, an expired version
/// (HTTP 410 or an ERROR event with code 410) relists at once, any other failure relists after a doubling backoff.
/// </summary>
/// <param name="path">The collection, e.g. <c>api/v1/pods</c>.</param>
/// <param name="fieldSelector">Narrows the collection (e.g. <c>spec.nodeName=node-a</c>); null for all.</param>
/// <param name="onList">Called with the whole collection after every list: the caller replaces its cache.</param>
/// <param name="onEvent">Called for every ADDED, MODIFIED and DELETED event.</param>
internal sealed class ResourceWatch<TItem, TList>(
    k8s.Kubernetes client,
    string path,
    string? fieldSelector,
    KubernetesAgentOptions options,
    AgentLog log,
    Action<IReadOnlyList<TItem>> onList,
    Action<string, TItem> onEvent)
    where TItem : IMetadata<V1ObjectMeta>
    where TList : IItems<TItem>, IMetadata<V1ListMeta>
{
    // A silent watch (a dead connection the kernel has not noticed) is given up this long after its timeoutSeconds.
    private static readonly TimeSpan StallMargin = TimeSpan.FromSeconds(60);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = options.FirstBackoff;
        string? version = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (version is null)
                {
                    version = await ListAsync(cancellationToken).ConfigureAwait(false);
                }

                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var (next, lines) = await WatchAsync(version, cancellationToken).ConfigureAwait(false);
                if (next is null)
                {
                    log.Info($"kubernetes: {path} watch expired (410): relisting");
                }

                version = next;

                // A watch that closes at once with nothing in it, again and again, must not become a busy loop.
                var quick = lines == 0 && System.Diagnostics.Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(1);
                backoff = quick ? await BackOffAsync(backoff, "watch closed at once without events", cancellationToken).ConfigureAwait(false) : options.FirstBackoff;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is HttpRequestException or IOException or JsonException or OperationCanceledException
                or k8s.Autorest.HttpOperationException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                // The reflector relists after any failure (a dropped connection, a line it cannot read): events may have been lost.
                version = null;
                backoff = await BackOffAsync(backoff, ex.Message, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<TimeSpan> BackOffAsync(TimeSpan backoff, string reason, CancellationToken cancellationToken)
    {
        log.Error($"kubernetes: {path}: {reason}; retrying in {backoff.TotalSeconds:0.###} s");
        await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
        return TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, options.MaxBackoff.Ticks));
    }

    /// <summary>Lists the collection (a consistent read: no resourceVersion) and hands it over; returns its resourceVersion.</summary>
    private async Task<string> ListAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync(Query(("fieldSelector", fieldSelector)), cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, cancellationToken).ConfigureAwait(false);
        }

        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var list = KubernetesJson.Deserialize<TList>(body) ?? throw new JsonException("an empty list");
        var items = list.Items ?? [];
        onList([.. items]);
        return list.Metadata?.ResourceVersion ?? throw new JsonException("the list has no metadata.resourceVersion");
    }

    /// <summary>Watches from <paramref name="version"/> until the server closes; returns the last version seen (null when it expired) and the lines read.</summary>
    private async Task<(string? Version, int Lines)> WatchAsync(string version, CancellationToken cancellationToken)
    {
        var timeoutSeconds = options.WatchTimeoutSeconds ?? Random.Shared.Next(300, 600);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(TimeSpan.FromSeconds(timeoutSeconds) + StallMargin);
        using var response = await SendAsync(
            Query(
                ("allowWatchBookmarks", "true"),
                ("fieldSelector", fieldSelector),
                ("resourceVersion", version),
                ("timeoutSeconds", timeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                ("watch", "true")),
            stall.Token).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.Gone)
        {
            return (null, 0);
        }

        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, stall.Token).ConfigureAwait(false);
        }

        var lines = 0;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false));
        while (await reader.ReadLineAsync(stall.Token).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            lines++;
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("type", out var typeElement)
                || !document.RootElement.TryGetProperty("object", out var item))
            {
                throw new JsonException($"a watch line that is not an event: {(line.Length > 100 ? line[..100] : line)}");
            }

            var type = typeElement.GetString();
            switch (type)
            {
                case "ERROR":
                    var status = KubernetesJson.Deserialize<V1Status>(item.GetRawText());
                    if (status?.Code == (int)HttpStatusCode.Gone)
                    {
                        return (null, lines);
                    }

                    throw new KubernetesApiException((HttpStatusCode)(status?.Code ?? 500), $"watch error: {status?.Reason} {status?.Message}");
                case "BOOKMARK":
                    // Only the version matters: the next watch starts there instead of from a version that may expire.
                    version = item.GetProperty("metadata").GetProperty("resourceVersion").GetString() ?? version;
                    break;
                case "ADDED" or "MODIFIED" or "DELETED":
                    var resource = KubernetesJson.Deserialize<TItem>(item.GetRawText());
                    version = resource.Metadata?.ResourceVersion ?? version;
                    onEvent(type, resource);
                    break;
                default:
                    throw new JsonException($"unknown watch event type '{type}'");
            }
        }

        return (version, lines);
    }

    private Task<HttpResponseMessage> SendAsync(string query, CancellationToken cancellationToken) =>
        KubernetesRequests.SendAsync(client, HttpMethod.Get, path + query, null, cancellationToken);

    private async Task<KubernetesApiException> ErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        string detail;
        try
        {
            var status = KubernetesJson.Deserialize<V1Status>(body);
            detail = $"{status?.Reason} {status?.Message}".Trim();
        }
        catch (JsonException)
        {
            detail = body.Length > 200 ? body[..200] : body;
        }

        return new KubernetesApiException(response.StatusCode, $"HTTP {(int)response.StatusCode}: {detail}");
    }

    private static string Query(params (string Name, string? Value)[] parameters)
    {
        var query = new System.Text.StringBuilder();
        foreach (var (name, value) in parameters)
        {
            if (value is not null)
            {
                query.Append(query.Length == 0 ? '?' : '&').Append(name).Append('=').Append(Uri.EscapeDataString(value));
            }
        }

        return query.ToString();
    }
}
