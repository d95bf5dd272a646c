using System.Runtime.InteropServices;
using System.CommandLine;
using Hbone.Ztunnel.Cni.Agent;
using Hbone.Ztunnel.Cni.Kubernetes;
using Hbone.Ztunnel.Cni.Rules;

// hbone-ztunnel-cni: what the CNI plugin and pod events do on a node, from the shell.
// Exit codes: 0 success, 1 error (one line on stderr).
var netns = new Option<string>("--netns") { Description = "The pod's network namespace: a name from 'ip netns' or a path such as /proc/PID/ns/net.", Required = true };
var dns = new Option<bool>("--dns-capture")
{
    Description = "Redirect the pod's DNS (UDP and TCP port 53) to the ztunnel's DNS proxy on 15053 (default true, as istio-cni's AMBIENT_DNS_CAPTURE); --dns-capture false leaves DNS alone.",
    DefaultValueFactory = _ => true,
};
var podsDir = new Option<string>("--pods-dir") { Description = "The directory of enrolled pods the agent watches: enroll writes <uid>.json there, remove deletes it." };
var uid = new Option<string>("--uid") { Description = "The pod's uid (required with --pods-dir)." };
var name = new Option<string>("--name") { Description = "The pod's name (default: the uid)." };
var podNamespace = new Option<string>("--namespace") { Description = "The pod's Kubernetes namespace.", DefaultValueFactory = _ => "default" };
var serviceAccount = new Option<string>("--service-account") { Description = "The pod's service account.", DefaultValueFactory = _ => "default" };

var enroll = new Command("enroll", "Write the in-pod redirection rules into a pod's network namespace (idempotent); with --pods-dir, record the pod for the agent.")
{
    netns, dns, podsDir, uid, name, podNamespace, serviceAccount,
};
enroll.Validators.Add(RequireUidWithPodsDir);
enroll.SetAction(async (parse, token) =>
{
    var path = NetnsPath(parse);
    var code = await RunAsync(parse, path, token, static (i, p, t) => i.ApplyAsync(p, t));
    if (code != 0 || parse.GetValue(podsDir) is not { } directory)
    {
        return code;
    }

    var id = parse.GetRequiredValue(uid);
    return TryFiles(() => PodDirectory.Write(directory, new PodRecord(
        id,
        parse.GetValue(name) ?? id,
        parse.GetRequiredValue(podNamespace),
        parse.GetRequiredValue(serviceAccount),
        path)));
});

var podDeleted = new Option<bool>("--pod-deleted")
{
    Description = "The pod is being deleted: leave its rules (its namespace goes with it, and its open connections keep working while the ztunnel drains them), as istio-cni does on CNI DEL.",
};
var remove = new Command("remove", "Remove the in-pod redirection rules from a pod's network namespace, leaving nothing behind; with --pods-dir, forget the pod.")
{
    netns, dns, podsDir, uid, podDeleted,
};
remove.Validators.Add(RequireUidWithPodsDir);
remove.SetAction(async (parse, token) =>
{
    var code = parse.GetValue(podDeleted) ? 0 : await RunAsync(parse, NetnsPath(parse), token, static (i, p, t) => i.RemoveAsync(p, t));

    // The pod is forgotten even when its namespace is already gone: the agent must still tell the ztunnel.
    if (parse.GetValue(podsDir) is { } directory)
    {
        var removed = TryFiles(() => PodDirectory.Delete(directory, parse.GetRequiredValue(uid)));
        code = code != 0 ? code : removed;
    }

    return code;
});

var socket = new Option<string>("--socket") { Description = "The ZDS Unix socket the ztunnel connects to.", DefaultValueFactory = _ => "/var/run/ztunnel/ztunnel.sock" };
var agentPodsDir = new Option<string>("--pods-dir") { Description = "Take the pods from this directory (written by 'enroll --pods-dir'): one machine, no cluster." };
var kubernetes = new Option<bool>("--kubernetes")
{
    Description = "Take the node's pods from the Kubernetes API server (env NODE_NAME required; POD_NAMESPACE, EXCLUDE_NAMESPACES, AMBIENT_DNS_CAPTURE as istio-cni) and enroll the ambient ones.",
};
var kubeconfig = new Option<string>("--kubeconfig") { Description = "With --kubernetes: the kubeconfig to use (default: $KUBECONFIG, else the pod's in-cluster service account)." };
var hostProc = new Option<string>("--host-proc") { Description = "With --kubernetes: the node's /proc, scanned for pod network namespaces.", DefaultValueFactory = _ => "/proc" };
var agent = new Command("agent", "Run the node agent: serve ZDS on --socket and hand the ztunnel every pod of --pods-dir or, with --kubernetes, every ambient pod of this node, following changes, until SIGTERM or Ctrl+C.")
{
    socket, agentPodsDir, kubernetes, kubeconfig, hostProc,
};
agent.Validators.Add(result =>
{
    var fromApi = result.GetValue(kubernetes);
    if (fromApi == (result.GetValue(agentPodsDir) is not null))
    {
        result.AddError(fromApi ? "--kubernetes and --pods-dir cannot be used together." : "one of --kubernetes or --pods-dir is required.");
    }
    else if (!fromApi && result.GetValue(kubeconfig) is not null)
    {
        result.AddError("--kubeconfig goes with --kubernetes.");
    }
});
agent.SetAction(async (parse, token) =>
{
    // Our own SIGTERM/SIGINT handling, registered before any pod is announced: a signal always means a clean stop.
    var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    using var stopping = new CancellationTokenSource();
    void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        stop.TrySetResult();
        stopping.Cancel();
    }

    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
    NodeAgent? node;
    try
    {
        node = parse.GetValue(kubernetes)
            ? await KubernetesAgent.StartAsync(parse.GetRequiredValue(socket), parse.GetValue(kubeconfig), parse.GetRequiredValue(hostProc), stopping.Token)
            : new NodeAgent(parse.GetRequiredValue(socket), parse.GetRequiredValue(agentPodsDir), Console.Out, Console.Error);
    }
    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException or k8s.Exceptions.KubeConfigException or k8s.Exceptions.KubernetesClientException)
    {
        await Console.Error.WriteLineAsync($"hbone-ztunnel-cni: error: {ex.Message}");
        return 1;
    }
    catch (OperationCanceledException) when (stopping.IsCancellationRequested)
    {
        // Stopped before the first sync: nothing was served.
        return 0;
    }

    if (node is null)
    {
        return 1;
    }

    await using (node)
    {
        await stop.Task.WaitAsync(token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    return 0;
});

var root = new RootCommand("hbone-ztunnel-cni: the interception agent of the reference ztunnel.") { enroll, remove, agent };
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });

void RequireUidWithPodsDir(System.CommandLine.Parsing.CommandResult result)
{
    if (result.GetValue(podsDir) is not null && string.IsNullOrWhiteSpace(result.GetValue(uid)))
    {
        result.AddError("--uid is required with --pods-dir.");
    }
}

string NetnsPath(ParseResult parse)
{
    var value = parse.GetRequiredValue(netns);
    return Path.GetFullPath(value.Contains('/', StringComparison.Ordinal) ? value : NetnsCommand.PathOfNamed(value));
}

async Task<int> RunAsync(ParseResult parse, string path, CancellationToken token, Func<InPodInterception, string, CancellationToken, Task> action)
{
    try
    {
        await action(new InPodInterception(new InterceptionOptions { CaptureDns = parse.GetValue(dns) }), path, token);
        return 0;
    }
    catch (InterceptionException ex)
    {
        await Console.Error.WriteLineAsync($"hbone-ztunnel-cni: error: {ex.Message}");
        return 1;
    }
}

static int TryFiles(Action action)
{
    try
    {
        action();
        return 0;
    }
    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
    {
        Console.Error.WriteLine($"hbone-ztunnel-cni: error: {ex.Message}");
        return 1;
    }
}
