namespace Hbone.Ztunnel.Zds;

/// <summary>
/// The ztunnel's side of ZDS: connects to the node agent, says hello, acks every message with the handler's
/// result, reconciles after each snapshot, and reconnects with backoff when the agent restarts.
/// </summary>
public sealed class ZdsClient : IAsyncDisposable
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly string _socketPath;
    private readonly IZdsWorkloadHandler _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _loop;
    private ZdsSocket? _current;

    public ZdsClient(string socketPath, IZdsWorkloadHandler handler)
    {
        _socketPath = socketPath;
        _handler = handler;
        _loop = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Completes after the first snapshot in which every pod was set up (readiness).</summary>
    public Task Ready => _ready.Task;

    /// <summary>Connections made so far (a reconnect after an agent restart adds one).</summary>
    public int Connections { get; private set; }

    private void Run()
    {
        var backoff = FirstBackoff;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var socket = ZdsSocket.Connect(_socketPath);
                _current = socket;
                Connections++;
                backoff = FirstBackoff;
                Serve(socket);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException or ObjectDisposedException or Google.Protobuf.InvalidProtocolBufferException)
            {
                // The agent is not there (yet) or went away: try again.
            }
            finally
            {
                _current = null;
            }

            if (_stop.Token.WaitHandle.WaitOne(backoff))
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    private void Serve(ZdsSocket socket)
    {
        socket.Send(new ZdsHello { Version = Version.V1 });
        var seen = new HashSet<string>();
        var failed = false;
        while (socket.Receive(WorkloadRequest.Parser) is { } datagram)
        {
            var request = datagram.Message;
            string? error = null;
            switch (request.PayloadCase)
            {
                case WorkloadRequest.PayloadOneofCase.Add when datagram.FileDescriptors.Count == 1:
                    seen.Add(request.Add.Uid);
                    error = _handler.OnAdd(request.Add.Uid, request.Add.WorkloadInfo ?? new WorkloadInfo(), datagram.FileDescriptors[0]);
                    break;
                case WorkloadRequest.PayloadOneofCase.Add:
                    // Exactly one namespace must come with an add.
                    foreach (var fd in datagram.FileDescriptors)
                    {
                        fd.Dispose();
                    }

                    error = $"add {request.Add.Uid} carried {datagram.FileDescriptors.Count} file descriptors, expected 1";
                    break;
                case WorkloadRequest.PayloadOneofCase.Keep:
                    seen.Add(request.Keep.Uid);
                    _handler.OnKeep(request.Keep.Uid);
                    break;
                case WorkloadRequest.PayloadOneofCase.Del:
                    seen.Remove(request.Del.Uid);
                    _handler.OnDelete(request.Del.Uid);
                    break;
                case WorkloadRequest.PayloadOneofCase.SnapshotSent:
                    _handler.OnSnapshotComplete(seen);
                    if (!failed)
                    {
                        _ready.TrySetResult();
                    }

                    break;
                default:
                    error = "unknown ZDS request";
                    break;
            }

            failed |= error is not null;
            socket.Send(new WorkloadResponse { Ack = new Ack { Error = error ?? string.Empty } });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _current?.Dispose();
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
