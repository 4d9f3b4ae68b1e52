using Csshim.Cri.Api;
using Csshim.E2E.Rig;

namespace Csshim.Cri.Rig;

/// <summary>
/// One Kubernetes node's container side: a private containerd 1.6 with its CRI plugin (own root, state, sockets,
/// CNI config, csshim state dir), the config a new user has (<see cref="NodeConfig"/>), the suite's images in
/// namespace k8s.io, and csshim's settings in a private config file that reaches csshim through containerd's
/// environment (CSSHIM_CONFIG: the runc shim and the runtime inherit it). The shared place is containerd's runc root
/// for CRI containers, /run/containerd/runc/k8s.io, which teardown cleans of the containers this node made.
/// </summary>
public sealed class CriNode : IDisposable
{
    public const string RuntimeRoot = "/run/containerd/runc/k8s.io";
    public const string Handler = "csshim";
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(60);

    readonly PrivateDir _dir;
    readonly Daemon _containerd;
    readonly HashSet<string> _ids = new();
    readonly Dictionary<string, string> _csshimEnv;

    public string Csshim { get; }
    public string Runtime { get; }
    public string StateDir { get; }
    public string Dir => _dir.Path;
    public CriClient Cri { get; }

    CriNode(PrivateDir dir, string csshim, string runtime)
    {
        _dir = dir;
        Csshim = csshim;
        Runtime = runtime;
        StateDir = dir.Dir("csshim-state");
        var config = ShimConfig.Write(dir.Sub("csshim.json"), runtime, StateDir);
        _csshimEnv = new Dictionary<string, string> { ["CSSHIM_CONFIG"] = config };
        var toml = NodeConfig.Write(dir.Path, csshim, CniStub.Write(dir.Path));
        var socket = dir.Sub("containerd.sock");
        _containerd = Daemon.Start("containerd", dir.Sub("containerd.log"), ["/usr/bin/containerd", "--config", toml], _csshimEnv);
        Cri = new CriClient(socket);
        try
        {
            _containerd.WaitReady(() => File.Exists(socket) && Answers(), TimeSpan.FromSeconds(30));
            Cmd.Run("/usr/bin/ctr", "-a", socket, "-n", "k8s.io", "image", "import", CriImages.Archive(dir.Path)).MustSucceed();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public static CriNode Start(string runtime)
    {
        E2EEnv.RequireRoot();
        E2EEnv.RequireExecutable("/usr/bin/containerd", "apt-get install containerd (test/tools/install-test-deps.sh)");
        E2EEnv.RequireExecutable(runtime, "test/tools/install-test-deps.sh, test/tools/fetch-runsc-2024.sh");
        return new CriNode(new PrivateDir("cri"), E2EEnv.RequireCsshim(), runtime);
    }

    bool Answers()
    {
        try
        {
            return Cri.Runtime.Version(new VersionRequest { Version = "v1" }, deadline: DateTime.UtcNow.AddSeconds(2)).RuntimeApiVersion == "v1";
        }
        catch (Grpc.Core.RpcException)
        {
            return false;
        }
    }

    public static DateTime Deadline(TimeSpan? timeout = null) => DateTime.UtcNow + (timeout ?? CallTimeout);

    /// <summary>A pod on the csshim handler, as a kubelet makes it for a Pod with these metadata.annotations.</summary>
    public Pod RunPod(string name, IReadOnlyDictionary<string, string>? annotations = null, string handler = Handler)
    {
        var uid = Guid.NewGuid().ToString("N");
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = name, Uid = uid, Namespace = "default" },
            Hostname = name,
            LogDirectory = _dir.Dir("pods", $"{name}-{uid}"),
            Linux = new LinuxPodSandboxConfig { SecurityContext = new LinuxSandboxSecurityContext { NamespaceOptions = Pod.KubeletNamespaces } },
        };
        foreach (var (k, v) in annotations ?? new Dictionary<string, string>()) config.Annotations[k] = v;
        var id = Cri.Runtime.RunPodSandbox(new RunPodSandboxRequest { Config = config, RuntimeHandler = handler }, deadline: Deadline()).PodSandboxId;
        Track(id);
        return new Pod(this, id, config);
    }

    internal void Track(string id) => _ids.Add(id);

    /// <summary>csshim by hand, with the node's settings, as an operator snapshots a pod's container.</summary>
    public CmdResult RunCsshim(params string[] args) => Cmd.Run(Csshim, args, _csshimEnv);

    /// <summary>Everything of these pods and containers still on the machine: mounts under the node's directory,
    /// csshim state, processes (shims, sandboxes, proxies: their command lines name the id), runtime state.
    /// Zombies are not counted: this machine's pid 1 reaps late, and a zombie holds nothing.</summary>
    public List<string> LeftoversOf(IReadOnlyCollection<string> ids)
    {
        var found = Leftovers.MountsUnder(_dir.Path).Select(m => $"mount {m}").ToList();
        found.AddRange(CsshimStateOf(ids).Select(p => $"csshim state {p}"));
        found.AddRange(ids.SelectMany(Leftovers.ProcessesMentioning).Distinct().Where(IsLive)
            .Select(pid => $"process {pid}: {Leftovers.CommandLine(pid)}"));
        if (Directory.Exists(RuntimeRoot))
            found.AddRange(Directory.EnumerateFileSystemEntries(RuntimeRoot)
                .Where(p => ids.Any(id => Path.GetFileName(p).StartsWith(id, StringComparison.Ordinal)))
                .Select(p => $"runtime state {p}"));
        return found;
    }

    /// <summary>csshim keeps a container's state as entries named after its id in one directory per runtime root.</summary>
    public IEnumerable<string> CsshimStateOf(IReadOnlyCollection<string> ids) =>
        Directory.EnumerateDirectories(StateDir).SelectMany(Directory.EnumerateFileSystemEntries)
            .Where(p => ids.Any(id => Path.GetFileName(p).StartsWith(id, StringComparison.Ordinal)));

    static bool IsLive(int pid)
    {
        try { return !File.ReadAllText($"/proc/{pid}/stat").Split(") ")[^1].StartsWith('Z'); }
        catch (IOException) { return false; }
    }

    /// <summary>Pods through CRI first (what a kubelet would do), then by force: the daemon, what still runs from the
    /// node's directory or in a cgroup of one of its containers, the runtime's records of them, mounts, the directory.</summary>
    public void Dispose()
    {
        try
        {
            if (_containerd.Alive) RemoveAllPods();
        }
        finally
        {
            Cri.Dispose();
            _containerd.Dispose();
            Leftovers.KillProcessesMentioning(_dir.Path);
            Leftovers.KillProcessesOfContainers(_ids);
            ForgetRuntimeState();
            _dir.Dispose();
        }
    }

    void RemoveAllPods()
    {
        try
        {
            foreach (var pod in Cri.Runtime.ListPodSandbox(new ListPodSandboxRequest(), deadline: Deadline()).Items)
                new Pod(this, pod.Id, null).Remove();
        }
        catch (Grpc.Core.RpcException e)
        {
            TestContext.Progress.WriteLine($"cri: removing the node's pods: {e.Status}");
        }
    }

    void ForgetRuntimeState()
    {
        if (!Directory.Exists(RuntimeRoot)) return;
        foreach (var entry in Directory.EnumerateFileSystemEntries(RuntimeRoot))
        {
            var name = Path.GetFileName(entry);
            var id = _ids.FirstOrDefault(i => name.StartsWith(i, StringComparison.Ordinal));
            if (id is null) continue;
            Cmd.Run(Runtime, "--root", RuntimeRoot, "delete", "--force", id);
            Leftovers.UnmountUnder(entry);
            if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
            else File.Delete(entry);
        }
    }
}
