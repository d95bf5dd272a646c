using System.Net;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.E2E.Tests.Infrastructure;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.E2E.Tests.Lab;

/// <summary>The ztunnel local config the lab script prints is one the ztunnel accepts, and it matches the topology.</summary>
public sealed class LabConfigTests
{
    [Fact]
    [Trait("case", "LAB-05")]
    public async Task LAB_05_the_lab_config_parses_and_describes_the_topology()
    {
        var yaml = await Shell.RunAsync(["bash", Repo.MeshLabScript, "config", "hbcfg"]);

        var config = LocalConfigParser.Parse(yaml, "mesh-lab.yaml");

        Assert.Equal(["client", "echo", "local-echo", "outsider"], config.Workloads.Select(w => w.Name));
        var client = config.Workloads[0];
        Assert.Equal("cluster1//v1/Pod/default/client", client.Uid);
        Assert.Equal("client", client.ServiceAccount);
        Assert.Equal(WorkloadProtocol.Hbone, client.Protocol);
        Assert.Equal("node-a", client.Node);
        Assert.Equal([IPAddress.Parse("10.244.1.2"), IPAddress.Parse("fd00:10:244:1::2")], client.WorkloadIps);

        var echo = config.Workloads[1];
        Assert.Equal("node-b", echo.Node);
        Assert.Equal([IPAddress.Parse("10.244.2.2"), IPAddress.Parse("fd00:10:244:2::2")], echo.WorkloadIps);
        Assert.Equal(8080, echo.Services["default/echo.default.svc.cluster.local"][80]);

        Assert.Equal(("node-a", WorkloadProtocol.Hbone), (config.Workloads[2].Node, config.Workloads[2].Protocol));
        Assert.Equal(("node-b", WorkloadProtocol.Tcp), (config.Workloads[3].Node, config.Workloads[3].Protocol));

        var service = Assert.Single(config.Services);
        Assert.Equal("default/echo.default.svc.cluster.local", service.Key);
        Assert.Equal([new NetworkAddress("", IPAddress.Parse("10.96.0.10")), new NetworkAddress("", IPAddress.Parse("fd00:10:96::10"))], service.Vips);
        Assert.Equal(8080, service.Ports[80]);
        Assert.Equal(["spiffe://cluster.local/ns/default/sa/echo"], service.SubjectAltNames);
        Assert.Empty(config.Policies);
    }
}
