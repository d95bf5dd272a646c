using System.Diagnostics;
using Hbone.MemoryProbe;

// Live managed memory per idle tunnel, client and server in one process, and (optionally) which types hold it.
// The tunnels' TCP destination runs in a child process (its sockets are the application's, not the tunnel's);
// --sink-in-process keeps it in this process, as the figures before the eighth step did.
//   Hbone.MemoryProbe [--count 5000] [--streams-per-connection 100] [--sink-in-process] [--types 25 [--referrers T1,T2]]
//   Hbone.MemoryProbe sink                          (the child: the TCP destination)
//   Hbone.MemoryProbe heap-types PID TOP [--live] [--referrers T1,T2]  (used by --types: attaches to PID with ClrMD; --live: reachable objects only,
//                                                   for a leak check of a framework-dependent process after churn)
if (args.Length >= 3 && args[0] == "heap-types")
{
    HeapTypes.Print(int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture), int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture), args.Contains("--live"), Referrers());
    return 0;
}

if (args is ["sink"])
{
    await TcpSink.RunChildAsync();
    return 0;
}

var count = Argument("--count", 5000);
var streams = Argument("--streams-per-connection", 100);
var types = Argument("--types", 0);
var sinkInProcess = args.Contains("--sink-in-process");
await using var probe = await TunnelProbe.StartAsync(streams, sinkInProcess);
var perTunnel = await probe.MeasureAsync(count);
Console.WriteLine($"{{\"test\":\"inproc-idle\",\"tunnels\":{count},\"streams_per_connection\":{streams},\"sink\":\"{(sinkInProcess ? "in-process" : "child-process")}\",\"managed_bytes_per_tunnel\":{perTunnel}}}");
if (types > 0)
{
    // ClrMD attaches from another process (ptrace); the tunnels stay open meanwhile.
    using var child = Process.Start(new ProcessStartInfo("dotnet", [typeof(Program).Assembly.Location, "heap-types", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), types.ToString(System.Globalization.CultureInfo.InvariantCulture), .. ReferrerArguments()]))!;
    await child.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
}

return 0;

// --referrers System.Object,System.Threading.Lock: which types hold objects of these types (40 references or more).
string[] Referrers()
{
    var index = Array.IndexOf(args, "--referrers");
    return index >= 0 && index + 1 < args.Length ? args[index + 1].Split(',') : [];
}

string[] ReferrerArguments() => Referrers() is { Length: > 0 } names ? ["--referrers", string.Join(',', names)] : [];

int Argument(string name, int fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
}
