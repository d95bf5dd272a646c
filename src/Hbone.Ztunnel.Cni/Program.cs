using System.CommandLine;
using Hbone.Ztunnel.Cni.Rules;

// hbone-ztunnel-cni: what the CNI plugin and pod events do on a node, from the shell.
// Exit codes: 0 success, 1 error (one line on stderr).
var netns = new Option<string>("--netns") { Description = "The pod's network namespace: a name from 'ip netns' or a path such as /proc/PID/ns/net.", Required = true };
var noDns = new Option<bool>("--no-dns-capture") { Description = "Do not redirect DNS (port 53) to the proxy's DNS port." };

var enroll = new Command("enroll", "Write the in-pod redirection rules into a pod's network namespace (idempotent).") { netns, noDns };
enroll.SetAction((parse, token) => RunAsync(parse, token, static (i, path, t) => i.ApplyAsync(path, t)));
var remove = new Command("remove", "Remove the in-pod redirection rules from a pod's network namespace, leaving nothing behind.") { netns, noDns };
remove.SetAction((parse, token) => RunAsync(parse, token, static (i, path, t) => i.RemoveAsync(path, t)));

var root = new RootCommand("hbone-ztunnel-cni: the interception agent of the reference ztunnel.") { enroll, remove };
return await root.Parse(args).InvokeAsync();

async Task<int> RunAsync(ParseResult parse, CancellationToken token, Func<InPodInterception, string, CancellationToken, Task> action)
{
    var value = parse.GetRequiredValue(netns);
    var path = value.Contains('/', StringComparison.Ordinal) ? value : NetnsCommand.PathOfNamed(value);
    try
    {
        await action(new InPodInterception(new InterceptionOptions { CaptureDns = !parse.GetValue(noDns) }), path, token);
        return 0;
    }
    catch (InterceptionException ex)
    {
        await Console.Error.WriteLineAsync($"hbone-ztunnel-cni: error: {ex.Message}");
        return 1;
    }
}
