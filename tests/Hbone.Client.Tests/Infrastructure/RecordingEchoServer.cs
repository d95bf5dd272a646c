using System.Collections.Concurrent;
using System.Net;
using Hbone.Identity;
using Hbone.Kestrel;
using Hbone.Kestrel.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Hbone.Client.Tests.Infrastructure;

/// <summary>What the server saw of one CONNECT: the TCP peer (one per client connection) and its certificate.</summary>
internal sealed record SeenConnect(IPEndPoint RemoteEndPoint, SpiffeId PeerIdentity, string? PeerSerial, string Authority);

/// <summary>
/// A Kestrel HBONE server whose handler records every CONNECT, accepts it and echoes the tunnel itself (no upstream):
/// <see cref="Seen"/> tells how many client connections (distinct remote end points) and which certificates it met.
/// </summary>
internal sealed class RecordingEchoServer : IAsyncDisposable
{
    private readonly ConcurrentQueue<SeenConnect> _seen = new();

    private RecordingEchoServer()
    {
    }

    public HboneTestServer Server { get; private set; } = null!;

    public IPEndPoint EndPoint => Server.EndPoint;

    public IReadOnlyList<SeenConnect> Seen => [.. _seen];

    public int DistinctConnections => _seen.Select(s => s.RemoteEndPoint).Distinct().Count();

    public static async Task<RecordingEchoServer> StartAsync(Action<HboneServerOptions>? configure = null)
    {
        var recording = new RecordingEchoServer();
        recording.Server = await HboneTestServer.StartAsync(configure, handler: hbone => hbone.AddHandler(recording.HandleAsync));
        return recording;
    }

    private async ValueTask HandleAsync(HboneConnectContext context)
    {
        _seen.Enqueue(new SeenConnect(context.RemoteEndPoint!, context.PeerIdentity, context.PeerCertificate?.SerialNumber, context.Authority.ToString()));
        var tunnel = await context.AcceptAsync();
        try
        {
            await tunnel.Input.CopyToAsync(tunnel.Output, context.Aborted);
            await tunnel.CompleteWritesAsync();
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
            context.SetOutcome(Hbone.TunnelOutcome.Aborted, ex.GetType().Name);
        }
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
