using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Win32.SafeHandles;

namespace Hbone.Ztunnel.Zds;

/// <summary>
/// The node agent's side of ZDS: keeps the enrolled pods, replays them as a snapshot to every ztunnel that
/// connects (one add per pod with its namespace fd, each acked, then SnapshotSent), then streams adds and deletes.
/// </summary>
public sealed class ZdsServer : IAsyncDisposable
{
    private readonly ZdsListener _listener;
    private readonly ConcurrentDictionary<string, ZdsWorkload> _workloads = new();
    private readonly List<Channel<WorkloadRequestWithPath>> _connections = [];
    private readonly CancellationTokenSource _stop = new();
    private Task _acceptLoop = Task.CompletedTask;
    private readonly TimeSpan _ackTimeout;

    /// <summary>Listens on <paramref name="socketPath"/> (a stale socket file there is replaced).</summary>
    /// <param name="socketPath">The Unix socket the ztunnel connects to.</param>
    /// <param name="ackTimeout">
    /// How long a ztunnel may take to say hello or to ack one message before its connection is dropped (it then
    /// reconnects and gets a fresh snapshot); <see cref="DefaultAckTimeout"/> unless set.
    /// </param>
    /// <param name="start">
    /// Whether to serve connections at once. An agent that must first learn its pods passes false, adds them, then
    /// calls <see cref="Start"/>: a ztunnel connecting meanwhile waits in the backlog instead of getting an empty snapshot.
    /// </param>
    public ZdsServer(string socketPath, TimeSpan? ackTimeout = null, bool start = true)
    {
        _ackTimeout = ackTimeout ?? DefaultAckTimeout;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_ackTimeout, TimeSpan.Zero, nameof(ackTimeout));
        _listener = new ZdsListener(socketPath);
        if (start)
        {
            Start();
        }
    }

    /// <summary>Starts serving ztunnel connections (once; later calls do nothing).</summary>
    public void Start()
    {
        if (_acceptLoop == Task.CompletedTask)
        {
            _acceptLoop = Task.Run(AcceptLoopAsync);
        }
    }

    /// <summary>The default bound on the wait for a hello or an ack: 10 seconds.</summary>
    public static readonly TimeSpan DefaultAckTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Raised with the ztunnel's answer to each message ("" when acked without error).</summary>
    public event Action<string, string>? Acked;

    /// <summary>
    /// Called for each ztunnel that connects, before its snapshot is built: an agent brings its pods up to date here,
    /// so the snapshot is the source of truth as of the connection, not as of its last (debounced) look.
    /// </summary>
    public Action? BeforeSnapshot { get; set; }

    /// <summary>Enrolls a pod: remembered for future snapshots and sent to connected ztunnels now.</summary>
    public void Add(ZdsWorkload workload)
    {
        _workloads[workload.Uid] = workload;
        Broadcast(new WorkloadRequestWithPath(new WorkloadRequest
        {
            Add = new AddWorkload { Uid = workload.Uid, WorkloadInfo = Info(workload) },
        }, workload.NetnsPath));
    }

    /// <summary>Removes a pod: ztunnels drain its proxy.</summary>
    public void Delete(string uid)
    {
        _workloads.TryRemove(uid, out _);
        Broadcast(new WorkloadRequestWithPath(new WorkloadRequest { Del = new DelWorkload { Uid = uid } }, null));
    }

    private void Broadcast(WorkloadRequestWithPath request)
    {
        lock (_connections)
        {
            foreach (var connection in _connections)
            {
                connection.Writer.TryWrite(request);
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            ZdsSocket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or System.Net.Sockets.SocketException)
            {
                return;
            }

            _ = Task.Factory.StartNew(() => Serve(socket), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
    }

    /// <summary>One ztunnel connection, on its own thread (the socket calls block).</summary>
    private void Serve(ZdsSocket socket)
    {
        var queue = Channel.CreateUnbounded<WorkloadRequestWithPath>();
        using (socket)
        using (_stop.Token.Register(socket.Dispose))
        {
            try
            {
                socket.SetTimeout(_ackTimeout);
                var hello = socket.Receive(ZdsHello.Parser);
                if (hello is null || hello.Message.Version != Version.V1)
                {
                    return;
                }

                BeforeSnapshot?.Invoke();

                // Register before the snapshot so that no add or delete made meanwhile is missed.
                lock (_connections)
                {
                    _connections.Add(queue);
                }

                foreach (var workload in _workloads.Values)
                {
                    SendAndAwaitAck(socket, new WorkloadRequestWithPath(new WorkloadRequest
                    {
                        Add = new AddWorkload { Uid = workload.Uid, WorkloadInfo = Info(workload) },
                    }, workload.NetnsPath));
                }

                SendAndAwaitAck(socket, new WorkloadRequestWithPath(new WorkloadRequest { SnapshotSent = new SnapshotSent() }, null));
                while (queue.Reader.WaitToReadAsync(_stop.Token).AsTask().GetAwaiter().GetResult())
                {
                    while (queue.Reader.TryRead(out var request))
                    {
                        SendAndAwaitAck(socket, request);
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or System.Net.Sockets.SocketException or ObjectDisposedException or IOException or Google.Protobuf.InvalidProtocolBufferException or TimeoutException)
            {
                // The ztunnel went away or misbehaved; it reconnects and gets a fresh snapshot.
            }
            finally
            {
                lock (_connections)
                {
                    _connections.Remove(queue);
                }
            }
        }
    }

    private void SendAndAwaitAck(ZdsSocket socket, WorkloadRequestWithPath request)
    {
        var uid = UidOf(request.Request);
        if (request.NetnsPath is { } path)
        {
            SafeFileHandle fd;
            try
            {
                fd = File.OpenHandle(path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The pod's namespace is gone (or unreadable): skip that pod, not the whole connection.
                Acked?.Invoke(uid, $"cannot open network namespace {path}: {ex.Message}");
                return;
            }

            using (fd)
            {
                socket.Send(request.Request, fd);
            }
        }
        else
        {
            socket.Send(request.Request);
        }

        ZdsDatagram<WorkloadResponse> answer;
        try
        {
            answer = socket.Receive(WorkloadResponse.Parser) ?? throw new IOException("The ztunnel closed the ZDS connection.");
        }
        catch (TimeoutException)
        {
            Acked?.Invoke(uid, $"no ack within {_ackTimeout.TotalSeconds:0.###} s: dropping the connection");
            throw;
        }

        Acked?.Invoke(uid, answer.Message.Ack?.Error ?? string.Empty);
    }

    private static string UidOf(WorkloadRequest request) => request.PayloadCase switch
    {
        WorkloadRequest.PayloadOneofCase.Add => request.Add.Uid,
        WorkloadRequest.PayloadOneofCase.Del => request.Del.Uid,
        WorkloadRequest.PayloadOneofCase.Keep => request.Keep.Uid,
        _ => string.Empty,
    };

    private static WorkloadInfo Info(ZdsWorkload workload) => new()
    {
        Name = workload.Name,
        Namespace = workload.Namespace,
        ServiceAccount = workload.ServiceAccount,
    };

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private sealed record WorkloadRequestWithPath(WorkloadRequest Request, string? NetnsPath);
}
