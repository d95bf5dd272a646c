using Hbone.TunnelBench;

const string Usage = """
    Hbone.TunnelBench: TCP load for the end-to-end tunnel benchmark (benchmarks/tunnel/run.sh).
    Every client subcommand prints one JSON line on stdout. Exit codes: 0 success, 1 error (one line on stderr).

      echo     --listen IP:PORT [--faults 0|1]                    TCP echo server; prints 'listening on IP:PORT'
               --faults 1: a connection starting "RESET-AT" + uint32 N (big-endian) is reset after N echoed bytes
      latency  --target IP:PORT [--size 1024] [--count 10000] [--warmup 1000] [--timeout 120]
               one warm connection, COUNT round trips of SIZE bytes; p50/p90/p99 in microseconds
      connrate --target IP:PORT [--seconds 5] [--concurrency 4]
               connect, 1 byte there and back, close; repeated by CONCURRENCY workers for SECONDS
      streamrate --via IP:PORT --target IP:PORT --cert PEM --key PEM --ca PEM [--seconds 5] [--workers 16]
               Hbone client in process: CONNECT on one warm pooled connection, 1 byte there and back, close
      hbone-echo --listen IP:PORT --cert PEM --key PEM --ca PEM
               HBONE server (Hbone.Kestrel) echoing each tunnel in process, no upstream dial; prints 'listening on IP:PORT'
      idle     --target IP:PORT --pids [NAME=]PID[,...] [--count 10000] [--batch 200] [--timeout 120] [--settle 1]
               VmRSS of the pids before and after COUNT open connections (each echoed one byte)
      soak     --target IP:PORT [--seconds 60] [--workers 32] [--seed 1] [--every 1]
               churn with faults (benchmarks/soak/run.sh; the upstream is 'echo --faults 1'): normal and half-close
               echoes verified by SHA-256, resets, slow readers, silent peers, upstream resets; cumulative counters
               as one JSON line every EVERY seconds, the last with "final": true; unexpected failures on stderr
    """;

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 1 : 0;
}

using var stop = new CancellationTokenSource();
using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(
    System.Runtime.InteropServices.PosixSignal.SIGINT, context => { context.Cancel = true; stop.Cancel(); });
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
    System.Runtime.InteropServices.PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });

try
{
    var options = Options.Parse(args.AsSpan(1));
    if (options.Help)
    {
        Console.WriteLine(Usage);
        return 0;
    }
    return args[0] switch
    {
        "echo" => await EchoServer.RunAsync(options, stop.Token),
        "latency" => await LatencyTest.RunAsync(options, stop.Token),
        "connrate" => await ConnRateTest.RunAsync(options, stop.Token),
        "streamrate" => await StreamRateTest.RunAsync(options, stop.Token),
        "hbone-echo" => await HboneEchoServer.RunAsync(options, stop.Token),
        "idle" => await IdleTest.RunAsync(options, stop.Token),
        "soak" => await SoakTest.RunAsync(options, stop.Token),
        _ => throw new UsageException($"unknown subcommand '{args[0]}'"),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"tunnelbench: error: {e.Message}. See 'Hbone.TunnelBench --help'.");
    return 1;
}
catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or OperationCanceledException or BenchException)
{
    Console.Error.WriteLine($"tunnelbench {args[0]}: error: {e.Message}");
    return 1;
}
