using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.InPod;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Dns;

/// <summary>
/// One pod's DNS proxy: UDP and TCP on the proxy address (127.0.0.1:15053) inside the pod's namespace, where the
/// capture rules send the pod's port-53 traffic. Each query is answered concurrently; a TCP connection may carry many.
/// </summary>
internal sealed class PodDnsServer : IAsyncDisposable
{
    /// <summary>Queries (UDP) and connections (TCP) one pod may have in progress at once, by default.</summary>
    public const int DefaultMaxInFlight = 256;

    // A TCP client that sends nothing for this long is closed (RFC 7766 §6.2.3 suggests seconds, not minutes).
    private static readonly TimeSpan TcpIdleTimeout = TimeSpan.FromSeconds(10);

    private readonly PodSockets _sockets;
    private readonly Func<Workload?> _client;
    private readonly DnsResponder _responder;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Socket _udp;
    private readonly Socket _tcp;
    private readonly Task _udpLoop;
    private readonly Task _tcpLoop;
    private readonly int _maxInFlight;
    private int _udpInFlight;
    private int _tcpInFlight;

    /// <summary>Binds both sockets in the pod and starts serving.</summary>
    /// <param name="sockets">The pod's socket factory.</param>
    /// <param name="address">The proxy address, e.g. 127.0.0.1:15053.</param>
    /// <param name="client">The pod's workload in the config in force (null while unknown).</param>
    /// <param name="responder">Answers each query.</param>
    /// <param name="maxInFlight">
    /// UDP queries, and TCP connections, in progress at once; beyond it a datagram is dropped (the client retries, as
    /// with a busy resolver) and a connection closed, so a pod flooding its resolver cannot pin unbounded forwards.
    /// </param>
    public PodDnsServer(PodSockets sockets, IPEndPoint address, Func<Workload?> client, DnsResponder responder, int maxInFlight = DefaultMaxInFlight)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxInFlight);
        _maxInFlight = maxInFlight;
        _sockets = sockets;
        _client = client;
        _responder = responder;
        _udp = sockets.Datagram(address);
        try
        {
            _tcp = sockets.Listen(address, transparent: false);
        }
        catch
        {
            _udp.Dispose();
            throw;
        }

        _udpLoop = ServeUdpAsync();
        _tcpLoop = ServeTcpAsync();
    }

    /// <summary>Closes both sockets at once (before the first await), then waits for the loops.</summary>
    public async ValueTask DisposeAsync()
    {
        _udp.Dispose();
        _tcp.Dispose();
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_udpLoop, _tcpLoop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task ServeUdpAsync()
    {
        byte[] buffer = new byte[DnsResponder.TcpLimit];
        EndPoint any = new IPEndPoint(_udp.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_stopping.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _udp.ReceiveFromAsync(buffer, SocketFlags.None, any, _stopping.Token).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                // An ICMP error for an earlier reply surfaces here on Linux; the socket itself is fine.
                continue;
            }
            catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            // Forwarded queries take as long as the upstream: answer each on its own, reading the next at once.
            if (Interlocked.Increment(ref _udpInFlight) > _maxInFlight)
            {
                Interlocked.Decrement(ref _udpInFlight);
                continue;
            }

            _ = ReplyUdpAsync(buffer.AsSpan(0, received.ReceivedBytes).ToArray(), received.RemoteEndPoint);
        }
    }

    private async Task ReplyUdpAsync(byte[] query, EndPoint client)
    {
        try
        {
            if (await _responder.AnswerAsync(_sockets, _client(), query, overUdp: true, _stopping.Token).ConfigureAwait(false) is { } reply)
            {
                await _udp.SendToAsync(reply, SocketFlags.None, client, _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The client is gone or the pod is being removed: nothing to answer.
        }
        finally
        {
            Interlocked.Decrement(ref _udpInFlight);
        }
    }

    private async Task ServeTcpAsync()
    {
        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await _tcp.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            if (Interlocked.Increment(ref _tcpInFlight) > _maxInFlight)
            {
                Interlocked.Decrement(ref _tcpInFlight);
                accepted.Dispose();
                continue;
            }

            _ = ServeConnectionAsync(accepted);
        }
    }

    private async Task ServeConnectionAsync(Socket connection)
    {
        using (connection)
        {
            byte[] length = new byte[2];
            try
            {
                while (true)
                {
                    using CancellationTokenSource idle = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                    idle.CancelAfter(TcpIdleTimeout);
                    if (!await DnsUpstream.ReadExactlyAsync(connection, length, idle.Token).ConfigureAwait(false))
                    {
                        return;
                    }

                    byte[] query = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
                    if (!await DnsUpstream.ReadExactlyAsync(connection, query, idle.Token).ConfigureAwait(false))
                    {
                        return;
                    }

                    if (await _responder.AnswerAsync(_sockets, _client(), query, overUdp: false, _stopping.Token).ConfigureAwait(false) is not { } reply)
                    {
                        // Not even a header: there is nothing to reply to, and the stream cannot be trusted further.
                        return;
                    }

                    byte[] framed = new byte[2 + reply.Length];
                    BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)reply.Length);
                    reply.CopyTo(framed, 2);
                    await connection.SendAsync(framed, SocketFlags.None, _stopping.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // Idle, reset, or the pod is being removed.
            }
            finally
            {
                Interlocked.Decrement(ref _tcpInFlight);
            }
        }
    }
}
