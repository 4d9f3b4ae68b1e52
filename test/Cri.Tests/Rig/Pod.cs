using Csshim.Cri.Api;
using Grpc.Core;

namespace Csshim.Cri.Rig;

/// <summary>A pod on a <see cref="CriNode"/> and the containers the test made in it, driven through CRI calls in the
/// kubelet's order. Remove (also on dispose) stops and removes the pod, which stops and removes its containers.</summary>
public sealed class Pod : IDisposable
{
    readonly CriNode _node;
    readonly PodSandboxConfig? _config;
    readonly Dictionary<string, string> _names = new();
    bool _removed;

    public string Id { get; }

    /// <summary>The pod and every container made in it: what must be gone once it is removed.</summary>
    public IReadOnlyCollection<string> Ids => [Id, .. _names.Keys];

    /// <summary>What a kubelet asks for a Pod without hostNetwork or shareProcessNamespace: the pod's network and
    /// IPC namespaces, a PID namespace per container.</summary>
    public static NamespaceOption KubeletNamespaces => new() { Network = NamespaceMode.Pod, Ipc = NamespaceMode.Pod, Pid = NamespaceMode.Container };

    internal Pod(CriNode node, string id, PodSandboxConfig? config)
    {
        _node = node;
        Id = id;
        _config = config;
    }

    RuntimeService.RuntimeServiceClient Cri => _node.Cri.Runtime;

    /// <summary>CreateContainer as the kubelet sends it: the container's config plus the pod's config, whose
    /// annotations are the Pod's metadata.annotations.</summary>
    public string Create(string name, string script, IReadOnlyDictionary<string, string>? annotations = null)
    {
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = name },
            Image = new ImageSpec { Image = CriImages.Busybox },
            Command = { "sh", "-c", script },
            LogPath = name + ".log",
            Linux = new LinuxContainerConfig { SecurityContext = new LinuxContainerSecurityContext { NamespaceOptions = KubeletNamespaces } },
        };
        foreach (var (k, v) in annotations ?? new Dictionary<string, string>()) config.Annotations[k] = v;
        var id = Cri.CreateContainer(new CreateContainerRequest { PodSandboxId = Id, Config = config, SandboxConfig = _config },
            deadline: CriNode.Deadline()).ContainerId;
        _names[id] = name;
        _node.Track(id);
        return id;
    }

    public void Start(string id) => Cri.StartContainer(new StartContainerRequest { ContainerId = id }, deadline: CriNode.Deadline());

    public string Run(string name, string script)
    {
        var id = Create(name, script);
        Start(id);
        return id;
    }

    public (int ExitCode, string Stdout, string Stderr) Exec(string id, params string[] command)
    {
        var r = Cri.ExecSync(new ExecSyncRequest { ContainerId = id, Cmd = { command }, Timeout = 30 }, deadline: CriNode.Deadline());
        return (r.ExitCode, r.Stdout.ToStringUtf8(), r.Stderr.ToStringUtf8());
    }

    public ContainerStatus Status(string id) =>
        Cri.ContainerStatus(new ContainerStatusRequest { ContainerId = id }, deadline: CriNode.Deadline()).Status;

    /// <summary>The container's log as containerd writes it (CRI format: time, stream, tag, line).</summary>
    public string Log(string id)
    {
        var path = Path.Combine(_config!.LogDirectory, _names[id] + ".log");
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    public void Stop(string id, long graceSeconds) =>
        Cri.StopContainer(new StopContainerRequest { ContainerId = id, Timeout = graceSeconds }, deadline: CriNode.Deadline());

    /// <summary>StopPodSandbox then RemovePodSandbox, as the kubelet ends a pod. Idempotent.</summary>
    public void Remove()
    {
        if (_removed) return;
        Cri.StopPodSandbox(new StopPodSandboxRequest { PodSandboxId = Id }, deadline: CriNode.Deadline());
        Cri.RemovePodSandbox(new RemovePodSandboxRequest { PodSandboxId = Id }, deadline: CriNode.Deadline());
        _removed = true;
    }

    /// <summary>A test's assertions come first; a pod it leaves is removed here, and a failure to do so is reported
    /// without hiding the test's own result (the node's teardown removes what is left by force).</summary>
    public void Dispose()
    {
        try
        {
            Remove();
        }
        catch (RpcException e)
        {
            TestContext.Progress.WriteLine($"cri: removing pod {Id}: {e.Status}");
        }
    }
}
