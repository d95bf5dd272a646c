using System.Net.Sockets;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.State;
using Hbone.Ztunnel.Telemetry;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Dns;

/// <summary>
/// Answers one DNS message from a pod, as ztunnel's DNS proxy: A and AAAA for mesh services from the config in force,
/// everything else forwarded upstream and returned unchanged; a malformed query gets FORMERR, an unknown opcode NOTIMP,
/// a pod the config does not know and an upstream that does not answer SERVFAIL.
/// </summary>
internal sealed partial class DnsResponder(WorkloadStore store, MeshNameLookup names, DnsUpstream? upstream, ILogger<DnsResponder> logger, ZtunnelMetrics? metrics = null)
{
    private const string Unknown = "unknown";

    /// <summary>The largest message over TCP.</summary>
    public const int TcpLimit = ushort.MaxValue;

    /// <summary>The reply to send, or null when nothing can be sent back (not even a whole header came).</summary>
    /// <param name="sockets">The asking pod's sockets, for queries forwarded upstream.</param>
    /// <param name="client">The asking pod's workload; null when the config does not know it.</param>
    /// <param name="message">The query as received (without the TCP length prefix).</param>
    /// <param name="overUdp">True for UDP: answers larger than the client's payload size are truncated.</param>
    /// <param name="cancellationToken">Ends a forward in progress.</param>
    public async Task<byte[]?> AnswerAsync(PodSockets sockets, Workload? client, ReadOnlyMemory<byte> message, bool overUdp, CancellationToken cancellationToken)
    {
        DnsRcode parsed = DnsWire.TryParseQuery(message.Span, out DnsQuery query);
        if (parsed != DnsRcode.NoError)
        {
            if (message.Length < DnsWire.HeaderLength)
            {
                return null;
            }

            LogRejected(logger, parsed, message.Length);
            return DnsWire.WriteError(message.Span, query, parsed);
        }

        var labels = new DnsLabels(DnsLabels.TypeName(query.Type), overUdp ? "udp" : "tcp", client?.CanonicalName ?? Unknown, client?.CanonicalRevision ?? Unknown);
        if (client is null)
        {
            // As ztunnel: a source the config does not know gets no answer it could mistake for the mesh's.
            metrics?.DnsRequest(labels, forwarded: false, failed: false);
            return DnsWire.WriteError(message.Span, query, DnsRcode.ServFail);
        }

        AddressFamily? family = query.Class != DnsQuery.ClassIn ? null : query.Type switch
        {
            DnsQuery.TypeA => AddressFamily.InterNetwork,
            DnsQuery.TypeAaaa => AddressFamily.InterNetworkV6,
            _ => null,
        };
        if (family is { } asked && names.Lookup(store.Current, client, query.Name, asked) is { } answer)
        {
            LogAnswered(logger, client.Namespace, client.Name, query.Name, answer.Addresses.Count);
            metrics?.DnsRequest(labels, forwarded: false, failed: false);
            return DnsWire.WriteAnswer(message.Span, query, answer, overUdp ? query.UdpPayloadSize : TcpLimit);
        }

        byte[]? forwarded = upstream is null ? null
            : overUdp ? await upstream.ForwardUdpAsync(sockets, message, cancellationToken).ConfigureAwait(false)
            : await upstream.ForwardTcpAsync(sockets, message, cancellationToken).ConfigureAwait(false);
        metrics?.DnsRequest(labels, forwarded: true, failed: forwarded is null);
        if (forwarded is null)
        {
            LogUpstreamFailed(logger, query.Name, client.Namespace, client.Name);
            return DnsWire.WriteError(message.Span, query, DnsRcode.ServFail);
        }

        return forwarded;
    }

    [LoggerMessage(1, LogLevel.Debug, "dns: {Namespace}/{Pod} asked {Name}: {Count} address(es) from the mesh")]
    private static partial void LogAnswered(ILogger logger, string @namespace, string pod, string name, int count);

    [LoggerMessage(2, LogLevel.Debug, "dns: a {Length}-byte query was answered {Code}")]
    private static partial void LogRejected(ILogger logger, DnsRcode code, int length);

    [LoggerMessage(3, LogLevel.Debug, "dns: no upstream resolver answered {Name} for {Namespace}/{Pod}: SERVFAIL")]
    private static partial void LogUpstreamFailed(ILogger logger, string name, string @namespace, string pod);
}
