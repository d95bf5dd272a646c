using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Hbone.Client;
using Hbone.Kestrel;

namespace Hbone.Cli.Commands;

/// <summary>
/// <c>hbone forward</c>: a local TCP listener; every accepted connection becomes a CONNECT stream on the pool,
/// with <c>Forwarded: for=</c> set from the accepted socket. Drains on SIGTERM.
/// </summary>
internal static class ForwardCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "Local IP:PORT to accept TCP connections on (port 0 picks a free port).", Required = true };
        var drain = new Option<double>("--drain-timeout") { Description = "Seconds open connections may continue after SIGTERM.", DefaultValueFactory = _ => 5 };
        var options = new TunnelClientOptions();
        var command = new Command("forward", "Forward every TCP connection accepted on --listen through an HBONE tunnel to --target via --via.") { listen, drain };
        options.AddTo(command);
        command.SetAction((parse, token) => CliError.RunAsync(async () =>
        {
            var endPoint = ServeCommand.ParseEndPoint(parse.GetRequiredValue(listen));
            var drainTimeout = TimeSpan.FromSeconds(parse.GetValue(drain) is var seconds && seconds >= 0 ? seconds : throw new CliError($"--drain-timeout must not be negative, got {seconds}"));
            await using var setup = options.Build(parse);
            using var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                listener.Bind(endPoint);
                listener.Listen(4096);
            }
            catch (SocketException ex)
            {
                throw new CliError($"cannot listen on {endPoint}: {ex.SocketErrorCode}");
            }

            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(token);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            await Console.Error.WriteLineAsync($"hbone forward: listening on {listener.LocalEndPoint} -> {setup.Target} via {setup.Via}").ConfigureAwait(false);
            await new Forwarder(setup, listener).RunAsync(stopping.Token, drainTimeout).ConfigureAwait(false);
            return 0;

            void Stop(PosixSignalContext context)
            {
                context.Cancel = true;
                stopping.Cancel();
            }
        }));
        return command;
    }

    /// <summary>The accept loop and the connections it carries.</summary>
    private sealed class Forwarder(TunnelClientSetup setup, Socket listener)
    {
        private readonly CancellationTokenSource _abort = new();
        private readonly List<Task> _connections = [];

        public async Task RunAsync(CancellationToken stopping, TimeSpan drainTimeout)
        {
            while (!stopping.IsCancellationRequested)
            {
                Socket accepted;
                try
                {
                    accepted = await listener.AcceptAsync(stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                accepted.NoDelay = true;
                lock (_connections)
                {
                    _connections.RemoveAll(static t => t.IsCompleted);
                    _connections.Add(ForwardOneAsync(accepted));
                }
            }

            // Drain: no new connections; open ones get until the deadline, then are aborted.
            listener.Close();
            Task[] open;
            lock (_connections)
            {
                open = [.. _connections];
            }

            try
            {
                await Task.WhenAll(open).WaitAsync(drainTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await _abort.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(open).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        private async Task ForwardOneAsync(Socket socket)
        {
            var started = Stopwatch.GetTimestamp();
            var source = socket.RemoteEndPoint as IPEndPoint;
            var status = 0;
            long sent = 0;
            long received = 0;
            var outcome = TunnelOutcome.Refused;
            string? error = null;
            using (socket)
            {
                try
                {
                    await using var tunnel = await setup.Client.ConnectAsync(setup.Request(source), _abort.Token).ConfigureAwait(false);
                    status = 200;
                    outcome = await tunnel.BridgeAsync(socket, _abort.Token).ConfigureAwait(false);
                    sent = tunnel.BytesSent;
                    received = tunnel.BytesReceived;
                }
                catch (HboneConnectException ex)
                {
                    status = ex.ResponseStatus;
                    error = ex.Message;
                    Reset(socket);
                }
                catch (Exception ex) when (ex is HboneException or OperationCanceledException or IOException or System.Security.Authentication.AuthenticationException or SocketException)
                {
                    error = ex.Message;
                    Reset(socket);
                }
            }

            var time = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
            var errorText = error is null ? string.Empty : $" error=\"{HboneTunnelLog.QuoteValue(error)}\"";
            Console.Out.WriteLine($"{time} info access connection complete src={source} target={setup.Target} via={setup.Via} status={status} " +
                $"bytes_sent={sent} bytes_recv={received} duration_ms={(long)Stopwatch.GetElapsedTime(started).TotalMilliseconds} outcome={outcome.ToString().ToLowerInvariant()}{errorText}");
        }

        private static void Reset(Socket socket)
        {
            try
            {
                // The local client learns of the failure as a reset, as from ztunnel's outbound listener.
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        }
    }
}
