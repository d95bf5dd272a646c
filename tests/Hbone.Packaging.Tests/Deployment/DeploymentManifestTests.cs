using k8s.Models;

namespace Hbone.Packaging.Tests.Deployment;

// Case ids of deploy/ (the test catalogue lives outside the repository and has no section for them yet):
//   DEP-01 manifests load strictly (no unknown field)      DEP-02 they pass the API schema check (types, required fields)
//   DEP-03 selectors match, every mount names a volume     DEP-04 referenced service accounts and roles exist; istio-cni's rights
//   DEP-05 Istio's capabilities, users, no host network    DEP-06 token audience istio-ca and the mesh root, where the ztunnel reads them
//   DEP-07 every ztunnel variable is one it reads          DEP-08 ztunnel and node agent share one ZDS socket
//   DEP-09 declared ports, probes and agent arguments      DEP-10 Dockerfiles lint clean
//   DEP-11 each image runs the published binary it copies (DeploymentImageTests)
// Each check is shown to fail on broken input where a tool does the checking (DEP-01, DEP-02, DEP-10).

/// <summary>
/// deploy/manifests, checked offline: the API schema (strict C# models here, kubernetes-models in validate.mjs) and the
/// cross-object facts no schema sees.
/// </summary>
public sealed class DeploymentManifestTests
{
    // Every variable ZtunnelConfig.FromEnvironment (src/Hbone.Ztunnel/Config/ZtunnelConfig.cs) reads, copied by hand so
    // that a renamed variable or a name Istio's chart sets but we ignore (INPOD_ENABLED, RUST_LOG) is caught here.
    private static readonly HashSet<string> ZtunnelEnvNames = new(StringComparer.Ordinal)
    {
        "TERMINATION_GRACE_PERIOD", "TERMINATION_GRACE_PERIOD_SECONDS", "LOCAL_XDS_PATH", "CERT_DIR", "CA_ROOT_CERT", "CA_ROOT_KEY",
        "XDS_ADDRESS", "KUBERNETES_SERVICE_HOST", "CA_ADDRESS", "AUTH_TOKEN", "NODE_NAME", "POD_NAMESPACE", "TRUST_DOMAIN",
        "ISTIO_META_CLUSTER_ID", "CLUSTER_ID", "NETWORK", "ISTIO_META_DNS_CAPTURE", "ISTIO_META_DNS_PROXY_ADDR", "DNS_RESOLV_CONF",
        "CLUSTER_DOMAIN", "OUTBOUND_PORT", "INBOUND_PLAINTEXT_PORT", "INBOUND_PORT", "SOCKS5_PORT", "ADMIN_PORT", "STATS_PORT",
        "READINESS_PORT", "INPOD_UDS", "POOL_MAX_STREAMS_PER_CONNECTION", "POOL_UNUSED_RELEASE_TIMEOUT", "XDS_ROOT_CA", "CA_ROOT_CA",
        "ALT_XDS_HOSTNAME", "ALT_CA_HOSTNAME", "SECRET_TTL", "POD_NAME", "INSTANCE_IP", "LOG_FORMAT", "WORKLOAD_WAIT_TIMEOUT",
        "PROXY_SOCKET_MARK",
    };

    // Families ZtunnelConfig reads by prefix (node metadata, extra gRPC headers).
    private static readonly string[] ZtunnelEnvPrefixes = ["ISTIO_META_", "ISTIO_METAJSON_", "XDS_HEADER_", "CA_HEADER_"];

    public static TheoryData<string> ManifestFiles => new(DeployTree.ManifestFiles);

    public static TheoryData<string> DaemonSets => new() { "ztunnel", "hbone-node-agent" };

    [Theory]
    [MemberData(nameof(ManifestFiles))]
    public void DEP_01_Every_manifest_loads_into_the_Kubernetes_models_with_no_unknown_field(string file)
    {
        IReadOnlyList<object> objects = DeployTree.Load(file);

        Assert.NotEmpty(objects);
        Assert.All(objects, o => Assert.IsAssignableFrom<IMetadata<V1ObjectMeta>>(o));
    }

    [Fact]
    public void DEP_01_A_misspelt_field_fails_the_strict_load()
    {
        string text = File.ReadAllText(DeployTree.FullPath("deploy/manifests/ztunnel/daemonset.yaml"))
            .Replace("priorityClassName:", "priorityClassNam:", StringComparison.Ordinal);

        Exception error = Assert.ThrowsAny<Exception>(() => k8s.KubernetesYaml.LoadAllFromString(text, typeMap: null, strict: true));
        Assert.Contains("priorityClassNam", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DEP_02_The_manifests_pass_the_API_schema_check()
    {
        (int exitCode, string output) = await NodeValidator.RunAsync(DeployTree.ManifestFiles);

        Assert.True(exitCode == 0, output);
        // One "ok" line per object: nothing skipped.
        Assert.Equal(DeployTree.AllObjects().Count, output.Split('\n').Count(l => l.StartsWith("ok ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task DEP_02_The_schema_check_fails_on_a_wrong_type_and_a_missing_required_field()
    {
        string good = File.ReadAllText(DeployTree.FullPath("deploy/manifests/ztunnel/daemonset.yaml"));
        string dir = Directory.CreateTempSubdirectory("hbone-deploy-").FullName;
        try
        {
            string wrongType = Path.Combine(dir, "wrong-type.yaml");
            File.WriteAllText(wrongType, good.Replace("containerPort: 15020", "containerPort: stats", StringComparison.Ordinal));
            string noName = Path.Combine(dir, "no-name.yaml");
            File.WriteAllText(noName, good.Replace("- name: istio-proxy\n          image:", "- image:", StringComparison.Ordinal));

            (int exitCode, string output) = await NodeValidator.RunAsync([wrongType, noName]);

            Assert.Equal(1, exitCode);
            Assert.Contains("containerPort must be integer", output, StringComparison.Ordinal);
            Assert.Contains("must have required property name", output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(DaemonSets))]
    public void DEP_03_The_selector_matches_the_pod_labels_and_every_mount_names_a_volume(string name)
    {
        V1DaemonSet daemonSet = DeployTree.DaemonSet(name);
        V1PodSpec pod = daemonSet.Spec.Template.Spec;

        Assert.All(daemonSet.Spec.Selector.MatchLabels, l => Assert.Equal(l.Value, daemonSet.Spec.Template.Metadata.Labels[l.Key]));
        HashSet<string> volumes = pod.Volumes.Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        Assert.All(pod.Containers.SelectMany(c => c.VolumeMounts), m => Assert.Contains(m.Name, volumes));
        // Not in the mesh themselves, as Istio's ztunnel and istio-cni pods.
        Assert.Equal("none", daemonSet.Spec.Template.Metadata.Labels["istio.io/dataplane-mode"]);
        Assert.Equal("istio-system", daemonSet.Metadata.NamespaceProperty);
    }

    [Fact]
    public void DEP_04_Every_service_account_and_role_referenced_exists()
    {
        HashSet<string> accounts = DeployTree.All<V1ServiceAccount>().Select(a => $"{a.Metadata.NamespaceProperty}/{a.Metadata.Name}").ToHashSet(StringComparer.Ordinal);
        HashSet<string> roles = DeployTree.All<V1ClusterRole>().Select(r => r.Metadata.Name).ToHashSet(StringComparer.Ordinal);
        List<V1ClusterRoleBinding> bindings = DeployTree.All<V1ClusterRoleBinding>().ToList();

        Assert.All(DeployTree.All<V1DaemonSet>(), d => Assert.Contains($"{d.Metadata.NamespaceProperty}/{d.Spec.Template.Spec.ServiceAccountName}", accounts));
        Assert.All(bindings, b =>
        {
            Assert.Equal(("rbac.authorization.k8s.io", "ClusterRole"), (b.RoleRef.ApiGroup, b.RoleRef.Kind));
            Assert.Contains(b.RoleRef.Name, roles);
            Assert.All(b.Subjects, s => Assert.Contains($"{s.NamespaceProperty}/{s.Name}", accounts));
        });
        // Every role is granted: none left unbound.
        Assert.Equal(roles.Order(StringComparer.Ordinal), bindings.Select(b => b.RoleRef.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void DEP_04_The_node_agent_has_istio_cni_s_rights()
    {
        string[] rights = DeployTree.All<V1ClusterRole>()
            .SelectMany(r => r.Rules)
            .SelectMany(rule => rule.Resources.SelectMany(resource => rule.Verbs.Select(verb => $"{resource}:{verb}")))
            .Order(StringComparer.Ordinal)
            .ToArray();

        Assert.Equal(
            ["events:create", "events:patch", "namespaces:get", "namespaces:list", "namespaces:watch", "nodes:get", "nodes:list", "nodes:watch",
             "pods/status:patch", "pods/status:update", "pods:get", "pods:list", "pods:watch"],
            rights);
    }

    [Fact]
    public void DEP_05_The_capabilities_and_users_are_Istio_s()
    {
        V1SecurityContext ztunnel = DeployTree.Container("ztunnel").SecurityContext;
        V1SecurityContext agent = DeployTree.Container("hbone-node-agent").SecurityContext;

        // Istio's ztunnel chart and istio-cni chart (ambient), in their order.
        Assert.Equal(["ALL"], ztunnel.Capabilities.Drop);
        Assert.Equal(["NET_ADMIN", "SYS_ADMIN", "NET_RAW"], ztunnel.Capabilities.Add);
        Assert.Equal(["ALL"], agent.Capabilities.Drop);
        Assert.Equal(["NET_ADMIN", "NET_RAW", "SYS_PTRACE", "SYS_ADMIN", "DAC_OVERRIDE"], agent.Capabilities.Add);
        Assert.Equal((0L, 1337L, true, false, false), (ztunnel.RunAsUser, ztunnel.RunAsGroup, ztunnel.ReadOnlyRootFilesystem, ztunnel.Privileged, ztunnel.RunAsNonRoot));
        Assert.Equal((0L, 0L, false), (agent.RunAsUser, agent.RunAsGroup, agent.Privileged));
        Assert.Equal("Unconfined", agent.AppArmorProfile.Type);
        // Neither shares the host's network: pod namespaces come over ZDS (ztunnel) or through /host/proc (agent).
        Assert.All(DeployTree.All<V1DaemonSet>(), d => Assert.NotEqual(true, d.Spec.Template.Spec.HostNetwork));
    }

    [Fact]
    public void DEP_06_The_token_has_audience_istio_ca_and_the_ztunnel_reads_it_and_the_mesh_root_where_they_are_mounted()
    {
        V1PodSpec pod = DeployTree.DaemonSet("ztunnel").Spec.Template.Spec;
        V1Container container = Assert.Single(pod.Containers);
        Dictionary<string, string> env = container.Env.Where(e => e.Value is not null).ToDictionary(e => e.Name, e => e.Value);
        string MountOf(string volume) => container.VolumeMounts.Single(m => m.Name == volume).MountPath;

        V1Volume tokenVolume = pod.Volumes.Single(v => v.Projected is not null);
        V1ServiceAccountTokenProjection token = Assert.Single(tokenVolume.Projected.Sources).ServiceAccountToken;
        Assert.Equal(("istio-ca", 43200L), (token.Audience, token.ExpirationSeconds));
        Assert.Equal($"{MountOf(tokenVolume.Name)}/{token.Path}", env["AUTH_TOKEN"]);

        V1Volume rootVolume = pod.Volumes.Single(v => v.ConfigMap is not null);
        Assert.Equal("istio-ca-root-cert", rootVolume.ConfigMap.Name);
        Assert.Equal($"{MountOf(rootVolume.Name)}/root-cert.pem", env["XDS_ROOT_CA"]);
        Assert.Equal(env["XDS_ROOT_CA"], env["CA_ROOT_CA"]);
    }

    [Fact]
    public void DEP_07_Every_variable_set_on_the_ztunnel_is_one_it_reads()
    {
        V1Container container = DeployTree.Container("ztunnel");

        Assert.All(container.Env, e => Assert.True(
            ZtunnelEnvNames.Contains(e.Name) || ZtunnelEnvPrefixes.Any(p => e.Name.StartsWith(p, StringComparison.Ordinal)),
            $"{e.Name} is not read by hbone-ztunnel"));
        // istiod's address as Istio's chart writes it (no scheme: https, as ztunnel and ours read it).
        Assert.All(container.Env.Where(e => e.Name.EndsWith("_ADDRESS", StringComparison.Ordinal)), e => Assert.Equal("istiod.istio-system.svc:15012", e.Value));
        // The node id and this node's workloads come from the downward API.
        Assert.Equal("spec.nodeName", container.Env.Single(e => e.Name == "NODE_NAME").ValueFrom.FieldRef.FieldPath);
        Assert.Equal("status.podIP", container.Env.Single(e => e.Name == "INSTANCE_IP").ValueFrom.FieldRef.FieldPath);
    }

    [Fact]
    public void DEP_08_The_ztunnel_and_the_node_agent_meet_on_one_ZDS_socket_in_one_host_directory()
    {
        V1Container ztunnel = DeployTree.Container("ztunnel");
        V1Container agent = DeployTree.Container("hbone-node-agent");
        string socket = ztunnel.Env.Single(e => e.Name == "INPOD_UDS").Value;
        string HostDirOf(string daemonSet, V1Container container)
        {
            V1VolumeMount mount = container.VolumeMounts.Single(m => socket.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
            return DeployTree.DaemonSet(daemonSet).Spec.Template.Spec.Volumes.Single(v => v.Name == mount.Name).HostPath.Path;
        }

        Assert.Equal(socket, agent.Args[agent.Args.IndexOf("--socket") + 1]);
        Assert.Equal("/var/run/ztunnel", HostDirOf("ztunnel", ztunnel));
        Assert.Equal(HostDirOf("ztunnel", ztunnel), HostDirOf("hbone-node-agent", agent));
    }

    [Fact]
    public void DEP_09_The_node_agent_runs_the_Kubernetes_agent_with_the_host_proc_it_mounts()
    {
        V1Container agent = DeployTree.Container("hbone-node-agent");
        Dictionary<string, V1EnvVar> env = agent.Env.ToDictionary(e => e.Name);

        Assert.Equal(["agent", "--kubernetes", "--host-proc", "/host/proc", "--socket", "/var/run/ztunnel/ztunnel.sock"], agent.Args);
        Assert.Contains(agent.VolumeMounts, m => m.MountPath == "/host/proc" && m.ReadOnlyProperty == true);
        Assert.Contains(agent.VolumeMounts, m => m.MountPath == "/host/var/run/netns" && m.MountPropagation == "HostToContainer");
        Assert.Equal("spec.nodeName", env["NODE_NAME"].ValueFrom.FieldRef.FieldPath);
        Assert.Equal("kube-system", env["EXCLUDE_NAMESPACES"].Value);
        // The agent serves no port yet: declaring a probe or a port would be a lie (deploy/README.md, known gaps).
        Assert.Null(agent.Ports);
        Assert.Null(agent.ReadinessProbe);
        Assert.Null(agent.LivenessProbe);
    }

    [Fact]
    public void DEP_09_The_ztunnel_declares_its_stats_port_and_readiness_as_Istio()
    {
        V1Container ztunnel = DeployTree.Container("ztunnel");

        V1ContainerPort port = Assert.Single(ztunnel.Ports);
        Assert.Equal(("ztunnel-stats", 15020, "TCP"), (port.Name, port.ContainerPort, port.Protocol));
        Assert.Equal(("/healthz/ready", "15021"), (ztunnel.ReadinessProbe.HttpGet.Path, ztunnel.ReadinessProbe.HttpGet.Port.Value));
        Assert.Equal(("200m", "512Mi"), (ztunnel.Resources.Requests["cpu"].ToString(), ztunnel.Resources.Requests["memory"].ToString()));
    }
}
