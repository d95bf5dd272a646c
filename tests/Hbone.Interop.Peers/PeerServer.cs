using System.Diagnostics;
using System.Net;

namespace Hbone.Interop.Peers;

/// <summary>Where the peer scripts live, found at run time from the test binary's directory.</summary>
public static class InteropScripts
{
    private const string RelativeFolder = "tests/Hbone.Interop.Peers";
    private static readonly Lazy<string> s_directory = new(Locate);

    /// <summary>Absolute path of <c>tests/Hbone.Interop.Peers</c>.</summary>
    /// <exception cref="DirectoryNotFoundException">No parent of the base directory contains the folder.</exception>
    public static string Directory => s_directory.Value;

    private static string Locate()
    {
        // bin/<config>/<tfm>/ sits somewhere below the repository root, so walk up until the folder appears
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, RelativeFolder);
            if (File.Exists(Path.Combine(candidate, "h2_hbone_server.py")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"{RelativeFolder} not found above {AppContext.BaseDirectory}");
    }
}

/// <summary>
/// An independent HBONE server (python3-h2 or Node's http2) running as a child process, for client interop tests.
/// The certificate directory must hold <c>ca.pem</c>, <c>server.pem</c> and <c>server.key</c>.
/// </summary>
public sealed class PeerServer : IAsyncDisposable
{
    /// <summary>The interpreter with python3-h2 (Debian's, not a pyenv shim).</summary>
    public const string Python = "/usr/bin/python3";

    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(20);
    private readonly Process _process;
    private readonly List<string> _log = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PeerServer(Process process, IPEndPoint endPoint)
    {
        _process = process;
        EndPoint = endPoint;
    }

    /// <summary>The bound address (the script was started with port 0).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>stderr so far: one <c>stream ...</c> line per stream, <c>conn ...</c> lines per connection.</summary>
    public IReadOnlyList<string> Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToArray();
            }
        }
    }

    /// <summary>Whether the process has ended (for example after a fault mode killed it, or it crashed).</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Starts <c>h2_hbone_server.py</c> on 127.0.0.1:0 with the given extra arguments.</summary>
    public static Task<PeerServer> StartPythonAsync(string certDir, params string[] extraArgs) =>
        StartAsync(Python, Path.Combine(InteropScripts.Directory, "h2_hbone_server.py"), certDir, extraArgs);

    /// <summary>Starts <c>node_hbone_server.js</c> on 127.0.0.1:0 with the given extra arguments.</summary>
    public static Task<PeerServer> StartNodeAsync(string certDir, params string[] extraArgs) =>
        StartAsync("node", Path.Combine(InteropScripts.Directory, "node_hbone_server.js"), certDir, extraArgs);

    /// <summary>Waits (bounded) until a stderr line containing <paramref name="fragment"/> appeared.</summary>
    /// <returns>The line, or null when the deadline passed first.</returns>
    public async Task<string?> WaitForLogAsync(string fragment, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            foreach (var line in Log)
            {
                if (line.Contains(fragment, StringComparison.Ordinal))
                {
                    return line;
                }
            }

            if (DateTime.UtcNow >= deadline)
            {
                return null;
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false); // the log is filled by a process event
        }
    }

    private static async Task<PeerServer> StartAsync(string program, string script, string certDir, string[] extraArgs)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(script);
        foreach (var arg in new[]
                 {
                     "--listen", "127.0.0.1:0",
                     "--cert", Path.Combine(certDir, "server.pem"),
                     "--key", Path.Combine(certDir, "server.key"),
                     "--ca", Path.Combine(certDir, "ca.pem"),
                 })
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var arg in extraArgs)
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var listening = new TaskCompletionSource<IPEndPoint>(TaskCreationOptions.RunContinuationsAsynchronously);
        PeerServer? server = null;
        var early = new List<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line && line.StartsWith("listening on ", StringComparison.Ordinal))
            {
                if (IPEndPoint.TryParse(line["listening on ".Length..].Trim(), out var endPoint))
                {
                    listening.TrySetResult(endPoint);
                }
                else
                {
                    listening.TrySetException(new InvalidOperationException($"unparsable line from {script}: {line}"));
                }
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (early)
            {
                if (server is null)
                {
                    early.Add(e.Data);
                    return;
                }
            }

            lock (server._log)
            {
                server._log.Add(e.Data);
            }
        };
        process.Exited += (_, _) =>
        {
            listening.TrySetException(new InvalidOperationException($"{script} exited before listening"));
            server?._exited.TrySetResult();
        };

        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception error)
        {
            process.Dispose();
            throw new InvalidOperationException($"cannot start {program} (is it installed?)", error);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        IPEndPoint bound;
        try
        {
            bound = await listening.Task.WaitAsync(StartDeadline).ConfigureAwait(false);
        }
        catch (Exception error) when (error is TimeoutException or InvalidOperationException)
        {
            KillTree(process);
            string stderr;
            lock (early)
            {
                stderr = string.Join("\n", early);
            }

            process.Dispose();
            throw new InvalidOperationException($"{script} did not report 'listening on' within {StartDeadline.TotalSeconds} s: {stderr}", error);
        }

        var started = new PeerServer(process, bound);
        lock (early)
        {
            started._log.AddRange(early);
            server = started;
        }

        if (process.HasExited)
        {
            started._exited.TrySetResult();
        }

        return started;
    }

    /// <summary>Kills the process tree and waits (bounded) for it to go.</summary>
    public async ValueTask DisposeAsync()
    {
        KillTree(_process);
        try
        {
            await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); // flushes the stderr reader
        }
        catch (TimeoutException)
        {
            // a process that ignores SIGKILL is beyond help; do not hang the test run on it
        }
        finally
        {
            _process.Dispose();
        }
    }

    private static void KillTree(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // it exited between the check and the kill
        }
    }
}
