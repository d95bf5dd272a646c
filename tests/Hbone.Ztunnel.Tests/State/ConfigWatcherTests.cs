using System.Net;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Tests.State;

public sealed class ConfigWatcherTests : IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private readonly string _dir = Directory.CreateTempSubdirectory("ztc-watch-").FullName;

    private string ConfigPath => Path.Combine(_dir, "config.yaml");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string OneWorkload(string ip) =>
        $"workloads:\n- uid: a\n  name: a\n  namespace: ns\n  serviceAccount: sa\n  workloadIps: [\"{ip}\"]\n  protocol: HBONE\n";

    private static Task<ConfigChangedEventArgs> NextChange(ConfigWatcher watcher)
    {
        var tcs = new TaskCompletionSource<ConfigChangedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Handler(object? sender, ConfigChangedEventArgs e)
        {
            watcher.Changed -= Handler;
            tcs.TrySetResult(e);
        }

        watcher.Changed += Handler;
        return tcs.Task.WaitAsync(Deadline);
    }

    [Fact]
    [Trait("case", "FT-03")]
    public async Task Bad_rewrite_keeps_the_last_good_state_with_a_positioned_error_then_a_good_one_applies()
    {
        File.WriteAllText(ConfigPath, OneWorkload("10.0.0.1"));
        var store = new WorkloadStore();
        using var watcher = new ConfigWatcher(ConfigPath, store, TimeSpan.FromMilliseconds(50));
        watcher.Start();
        Assert.NotNull(store.FindWorkload("", IPAddress.Parse("10.0.0.1")));

        Task<ConfigChangedEventArgs> rejected = NextChange(watcher);
        File.WriteAllText(ConfigPath, OneWorkload("10.0.0.300"));
        ConfigChangedEventArgs bad = await rejected;
        Assert.False(bad.Applied);
        var error = Assert.IsType<LocalConfigException>(bad.Error);
        Assert.Equal("config.yaml:6:17: workloads[0].workloadIps[0]: '10.0.0.300' is not an IP address", error.Message);
        Assert.Same(error, watcher.LastError);
        Assert.NotNull(store.FindWorkload("", IPAddress.Parse("10.0.0.1")));

        Task<ConfigChangedEventArgs> applied = NextChange(watcher);
        File.WriteAllText(ConfigPath, OneWorkload("10.0.0.2"));
        ConfigChangedEventArgs good = await applied;
        Assert.True(good.Applied);
        Assert.Null(watcher.LastError);
        Assert.Null(store.FindWorkload("", IPAddress.Parse("10.0.0.1")));
        Assert.Same(good.Snapshot, store.Current);
        Assert.Equal("a", store.FindWorkload("", IPAddress.Parse("10.0.0.2"))!.Uid);
    }

    [Fact]
    public async Task Atomic_rename_over_the_file_is_picked_up()
    {
        File.WriteAllText(ConfigPath, OneWorkload("10.0.0.1"));
        var store = new WorkloadStore();
        using var watcher = new ConfigWatcher(ConfigPath, store, TimeSpan.FromMilliseconds(50));
        watcher.Start();

        Task<ConfigChangedEventArgs> change = NextChange(watcher);
        string temp = Path.Combine(_dir, "config.yaml.tmp");
        File.WriteAllText(temp, OneWorkload("10.0.0.3"));
        File.Move(temp, ConfigPath, overwrite: true);
        Assert.True((await change).Applied);
        Assert.NotNull(store.FindWorkload("", IPAddress.Parse("10.0.0.3")));
    }

    [Fact]
    public void Start_with_a_bad_file_throws_and_leaves_the_store_empty()
    {
        File.WriteAllText(ConfigPath, "workloads: [\n");
        var store = new WorkloadStore();
        using var watcher = new ConfigWatcher(ConfigPath, store);
        var e = Assert.Throws<LocalConfigException>(watcher.Start);
        Assert.StartsWith("config.yaml:", e.Message, StringComparison.Ordinal);
        Assert.Empty(store.Current.Config.Workloads);
    }

    [Fact]
    public void Reload_of_unchanged_content_raises_nothing()
    {
        File.WriteAllText(ConfigPath, OneWorkload("10.0.0.1"));
        using var watcher = new ConfigWatcher(ConfigPath, new WorkloadStore(), TimeSpan.FromMinutes(1));
        watcher.Start();
        int events = 0;
        watcher.Changed += (_, _) => events++;
        Assert.True(watcher.Reload());
        Assert.Equal(0, events);
    }
}
