using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Hbone.Identity;
using Hbone.Kestrel;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace Hbone.Benchmarks;

/// <summary>
/// A Kestrel connection without a socket or TLS, for driving the server's HTTP/2 engine in memory: the
/// transport is a pair of pipes, and the features the engine reads (ALPN "h2", the peer's SPIFFE identity,
/// close requests) are answered by the context itself, as Kestrel's TLS middleware would after a handshake.
/// </summary>
internal sealed class InMemoryConnectionContext : ConnectionContext, ITlsApplicationProtocolFeature, IHbonePeerIdentityFeature, IConnectionLifetimeNotificationFeature
{
    private readonly CancellationTokenSource _closeRequested = new();

    public InMemoryConnectionContext(IDuplexPipe transport, SpiffeId peer, SpiffeId local)
    {
        Transport = transport;
        PeerIdentity = peer;
        LocalIdentity = local;
        ConnectionClosedRequested = _closeRequested.Token;
        Features.Set<ITlsApplicationProtocolFeature>(this);
        Features.Set<IHbonePeerIdentityFeature>(this);
        Features.Set<IConnectionLifetimeNotificationFeature>(this);
        LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 15008);
        RemoteEndPoint = new IPEndPoint(IPAddress.Loopback, 40000);
    }

    public override string ConnectionId { get; set; } = "bench";

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public ReadOnlyMemory<byte> ApplicationProtocol => "h2"u8.ToArray();

    public SpiffeId? PeerIdentity { get; }

    public X509Certificate2? PeerCertificate => null;

    public SpiffeId? LocalIdentity { get; }

    public CancellationToken ConnectionClosedRequested { get; set; }

    /// <summary>The reason the engine aborted the connection, if it did (a benchmark that saw one is broken).</summary>
    public ConnectionAbortedException? AbortReason { get; private set; }

    public void RequestClose() => _closeRequested.Cancel();

    public override void Abort(ConnectionAbortedException abortReason) => AbortReason ??= abortReason;

    public override ValueTask DisposeAsync()
    {
        _closeRequested.Dispose();
        return default;
    }
}
