using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Hbone.Identity;

namespace Hbone.Interop.Peers;

/// <summary>Which independent HBONE server to run.</summary>
public enum PeerKind
{
    /// <summary><c>h2_hbone_server.py</c> on python3-h2.</summary>
    Python,

    /// <summary><c>node_hbone_server.js</c> on Node's http2 (nghttp2).</summary>
    Node,
}

/// <summary>
/// An independent HBONE server (python3-h2 or Node) as a child process on 127.0.0.1 with a free port, serving
/// <paramref name="server"/>'s SVID and trusting <paramref name="ca"/>. Its stderr (the access log: "stream ..."
/// and "conn ..." lines) is collected; disposing kills the process and deletes its temporary certificate folder.
/// </summary>
internal sealed class PeerServer : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private readonly string _directory;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _lineAdded = new(0);

    private PeerServer(PeerKind kind, Process process, string directory)
    {
        Kind = kind;
        _process = process;
        _directory = directory;
    }

    public PeerKind Kind { get; }

    public IPEndPoint EndPoint { get; private set; } = null!;

    /// <summary>Every stderr line so far.</summary>
    public IReadOnlyList<string> Lines => [.. _lines];

    /// <summary>Access-log lines of streams ("stream conn=N id=M ... status=S outcome=...").</summary>
    public IReadOnlyList<string> StreamLines => [.. _lines.Where(l => l.StartsWith("stream ", StringComparison.Ordinal))];

    /// <summary>Connections the server accepted ("conn n=N ... open ...").</summary>
    public int OpenedConnections => _lines.Count(l => l.StartsWith("conn n=", StringComparison.Ordinal) && l.Contains(" open ", StringComparison.Ordinal));

    public static async Task<PeerServer> StartAsync(PeerKind kind, Svid server, DevelopmentCertificateAuthority ca, params string[] extraArguments)
    {
        var directory = Directory.CreateTempSubdirectory("hbone-peer-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "server.pem"), server.ExportCertificateChainPem());
            await File.WriteAllTextAsync(Path.Combine(directory, "server.key"), server.ExportPrivateKeyPem());
            await File.WriteAllTextAsync(Path.Combine(directory, "ca.pem"), ca.ExportRootPem());
            var script = Path.Combine(FindPeersDirectory(), kind == PeerKind.Python ? "h2_hbone_server.py" : "node_hbone_server.js");
            var start = new ProcessStartInfo(kind == PeerKind.Python ? "/usr/bin/python3" : "node")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[]
                     {
                         script, "--listen", "127.0.0.1:0", "--cert", Path.Combine(directory, "server.pem"),
                         "--key", Path.Combine(directory, "server.key"), "--ca", Path.Combine(directory, "ca.pem"),
                     }.Concat(extraArguments))
            {
                start.ArgumentList.Add(argument);
            }

            if (kind == PeerKind.Python)
            {
                start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
            }

            var process = Process.Start(start) ?? throw new InvalidOperationException($"Cannot start {start.FileName}.");
            var peer = new PeerServer(kind, process, directory);
            try
            {
                await peer.ReadListeningLineAsync();
            }
            catch
            {
                await peer.DisposeAsync();
                throw;
            }

            return peer;
        }
        catch
        {
            DeleteQuietly(directory);
            throw;
        }
    }

    private async Task ReadListeningLineAsync()
    {
        _ = Task.Run(async () =>
        {
            while (await _process.StandardError.ReadLineAsync() is { } line)
            {
                _lines.Enqueue(line);
                _lineAdded.Release();
            }
        });

        using var timeout = new CancellationTokenSource(StartTimeout);
        while (true)
        {
            string? line;
            try
            {
                line = await _process.StandardOutput.ReadLineAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"The {Kind} peer printed no 'listening on' line within {StartTimeout}. stderr: {string.Join(" | ", _lines)}");
            }

            if (line is null)
            {
                await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
                throw new InvalidOperationException($"The {Kind} peer exited ({_process.ExitCode}) before listening. stderr: {string.Join(" | ", _lines)}");
            }

            if (line.StartsWith("listening on ", StringComparison.Ordinal))
            {
                EndPoint = IPEndPoint.Parse(line["listening on ".Length..].Trim());
                _ = _process.StandardOutput.ReadToEndAsync();
                return;
            }
        }
    }

    /// <summary>Waits until a stderr line matches <paramref name="predicate"/>, within <paramref name="timeout"/>.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            foreach (var line in _lines)
            {
                if (predicate(line))
                {
                    return line;
                }
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !await _lineAdded.WaitAsync(left))
            {
                throw new TimeoutException($"No matching line from the {Kind} peer within {timeout}. stderr: {string.Join(" | ", _lines)}");
            }
        }
    }

    /// <summary>Counts stderr lines matching <paramref name="predicate"/>.</summary>
    public int Count(Func<string, bool> predicate) => _lines.Count(predicate);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
        }
        finally
        {
            _process.Dispose();
            DeleteQuietly(_directory);
        }
    }

    private static void DeleteQuietly(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static string FindPeersDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "Hbone.Interop.Peers");
            if (File.Exists(Path.Combine(candidate, "h2_hbone_server.py")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("tests/Hbone.Interop.Peers was not found above " + AppContext.BaseDirectory);
    }
}
