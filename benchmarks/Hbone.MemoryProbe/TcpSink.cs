using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Hbone.MemoryProbe;

/// <summary>
/// The tunnels' destination: a TCP listener that accepts and holds connections. By default it runs in a child process,
/// so the figure counts the client and the server only, not the destination application's sockets.
/// </summary>
internal abstract class TcpSink : IAsyncDisposable
{
    public abstract IPEndPoint EndPoint { get; }

    public abstract int Accepted { get; }

    public static async Task<TcpSink> StartAsync(bool inProcess) =>
        inProcess ? new InProcessSink() : await ChildProcessSink.StartAsync();

    public abstract ValueTask DisposeAsync();

    /// <summary>
    /// The child's side (`Hbone.MemoryProbe sink`): prints its port, then one line per accepted connection; exits when its
    /// standard input closes, so a probe that dies leaves no sink behind.
    /// </summary>
    public static async Task RunChildAsync()
    {
        _ = Task.Run(() =>
        {
            while (Console.In.ReadLine() is not null)
            {
            }

            Environment.Exit(0);
        });
        using var listener = Listen();
        Console.WriteLine(((IPEndPoint)listener.LocalEndPoint!).Port.ToString(CultureInfo.InvariantCulture));
        var held = new List<Socket>();
        while (true)
        {
            held.Add(await listener.AcceptAsync());
            Console.WriteLine("+");
        }
    }

    private static Socket Listen()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(8192);
        return listener;
    }

    private sealed class InProcessSink : TcpSink
    {
        private readonly Socket _listener = Listen();
        private readonly List<Socket> _accepted = [];

        public InProcessSink() => _ = AcceptAsync();

        public override IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

        public override int Accepted
        {
            get
            {
                lock (_accepted)
                {
                    return _accepted.Count;
                }
            }
        }

        private async Task AcceptAsync()
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await _listener.AcceptAsync();
                }
                catch (ObjectDisposedException)
                {
                    return;
                }

                lock (_accepted)
                {
                    _accepted.Add(socket);
                }
            }
        }

        public override ValueTask DisposeAsync()
        {
            _listener.Dispose();
            lock (_accepted)
            {
                _accepted.ForEach(s => s.Dispose());
            }

            return default;
        }
    }

    private sealed class ChildProcessSink : TcpSink
    {
        private readonly Process _child;
        private readonly Task _counting;
        private int _accepted;

        private ChildProcessSink(Process child, int port)
        {
            _child = child;
            EndPoint = new IPEndPoint(IPAddress.Loopback, port);
            _counting = CountAsync();
        }

        public override IPEndPoint EndPoint { get; }

        public override int Accepted => Volatile.Read(ref _accepted);

        public static async Task<TcpSink> StartAsync()
        {
            var child = Process.Start(new ProcessStartInfo("dotnet", [typeof(TcpSink).Assembly.Location, "sink"]) { RedirectStandardOutput = true, RedirectStandardInput = true })!;
            var port = await child.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (!int.TryParse(port, CultureInfo.InvariantCulture, out var parsed))
            {
                child.Kill();
                throw new InvalidOperationException($"The sink process did not print its port (got '{port}').");
            }

            return new ChildProcessSink(child, parsed);
        }

        private async Task CountAsync()
        {
            while (await _child.StandardOutput.ReadLineAsync() is not null)
            {
                Interlocked.Increment(ref _accepted);
            }
        }

        public override async ValueTask DisposeAsync()
        {
            _child.Kill();
            await _counting.WaitAsync(TimeSpan.FromSeconds(10));
            _child.Dispose();
        }
    }
}
