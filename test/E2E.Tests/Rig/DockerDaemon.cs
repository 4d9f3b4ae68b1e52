using Csshim.Tests.Rig;
using Newtonsoft.Json.Linq;

namespace Csshim.E2E.Rig;

/// <summary>A private dockerd (Docker 26.1.5, fetched by test/tools/fetch-clients.sh) in its own directory, whose
/// daemon.json gets csshim runtimes from `csshim install --docker-config`, plus plain runc and runsc entries that tell
/// a rig problem apart from a csshim one. It can be restarted with the same settings, as an operator restarts
/// Docker; on Dispose every container is removed and the daemon stopped.</summary>
public sealed class DockerDaemon : IDisposable
{
    public const string Image = "bb";

    private readonly string csshim;
    private readonly Dictionary<string, string> env = new();
    private readonly List<string> seen = new();
    private Daemon? dockerd;

    public PrivateDir Dir { get; }
    /// <summary>csshim's state dir, shared by every csshim runtime of this daemon.</summary>
    public string StateDir { get; }
    /// <summary>Docker runtime name → the runtimeArgs installed for it (also needed by a `tar rootfs-upper` by hand).</summary>
    public IReadOnlyDictionary<string, string[]> RuntimeArgs { get; }
    private string Socket => Dir.Sub("docker.sock");

    /// <param name="runtimes">Docker runtime name → csshim flags for it; `--shim-state-dir` and the rig's restore flags are added.</param>
    public DockerDaemon(string tag, IReadOnlyDictionary<string, string[]> runtimes)
    {
        E2EEnv.RequireRoot();
        E2EEnv.RequireExecutable(E2EEnv.Dockerd, "run test/tools/fetch-clients.sh (Docker 26 from trixie)");
        csshim = E2EEnv.RequireCsshim();
        Dir = new PrivateDir(tag);
        StateDir = Dir.Dir("csshim-state");
        env["PATH"] = $"{E2EEnv.Docker26Dir}/usr/bin:{E2EEnv.Docker26Dir}/usr/sbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        RuntimeArgs = runtimes.ToDictionary(r => r.Key, r => (string[])[.. RestoreUnderTest.Flags(StateDir), .. r.Value, "--shim-state-dir", StateDir]);
        try
        {
            WriteDaemonJson();
            Start();
            Docker("import", BusyboxImage.RootfsTar(Dir.Path), Image).MustSucceed();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private string DaemonJson => Dir.Sub("daemon.json");

    private void WriteDaemonJson()
    {
        File.WriteAllText(DaemonJson, "{}\n");
        foreach (var (name, args) in RuntimeArgs)
            Cmd.Run(csshim, ["install", "--docker-config", DaemonJson, "--name", name, "--", .. args]).MustSucceed();
        var config = JObject.Parse(File.ReadAllText(DaemonJson));
        var entries = (JObject)config["runtimes"]!;
        Assert.That(entries.Properties().Select(p => p.Name), Is.SupersetOf(RuntimeArgs.Keys));
        entries["runsc-raw"] = new JObject { ["path"] = E2EEnv.Runsc, ["runtimeArgs"] = new JArray("--network=none") };
        File.WriteAllText(DaemonJson, config.ToString());
    }

    private void Start()
    {
        dockerd = Daemon.Start("dockerd", Dir.Sub("dockerd.log"),
        [
            E2EEnv.Dockerd, "--config-file", DaemonJson, "--data-root", Dir.Sub("root"), "--exec-root", Dir.Sub("exec"),
            "--pidfile", Dir.Sub("dockerd.pid"), "-H", "unix://" + Socket,
            "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none",
        ], env);
        dockerd.WaitReady(() => File.Exists(Socket) && Docker("info").ExitCode == 0, TimeSpan.FromSeconds(60));
    }

    /// <summary>Stop dockerd as an operator does (TERM: Docker stops its containers, live-restore is off) and start
    /// it again with the same settings: containers with a restart policy are created anew.</summary>
    public void Restart()
    {
        dockerd?.Dispose();
        Start();
    }

    public CmdResult Docker(params string[] args) =>
        Cmd.Run(E2EEnv.DockerCli, ["-H", "unix://" + Socket, .. args], env, TimeSpan.FromSeconds(90));

    /// <summary>`docker run -d`; the id is remembered so that Dispose removes it whatever the test did.</summary>
    public string RunDetached(params string[] args)
    {
        var id = Docker(["run", "-d", .. args]).MustSucceed().Stdout.Trim();
        seen.Add(id);
        return id;
    }

    public void Remove(string idOrName) => Docker("rm", "-f", idOrName);

    /// <summary>Docker 26 gives every runc-shim runtime the same root, &lt;exec-root&gt;/runtime-runc (plus the
    /// namespace, moby), whatever the runtime's name; the shim records it in the task's options.json.</summary>
    public string RuntimeRoot(string id)
    {
        var options = Dir.Sub("exec", "containerd", "daemon", "io.containerd.runtime.v2.task", "moby", id, "options.json");
        var root = (string?)JObject.Parse(File.ReadAllText(options))["root"];
        Assert.That(root, Is.Not.Null, $"no root in {options}");
        return Path.Combine(root!, "moby");
    }

    public CmdResult TarUpper(string runtime, string id, string file) =>
        Cmd.Run(csshim, ["--root", RuntimeRoot(id), .. RuntimeArgs[runtime], "tar", "rootfs-upper", "--file", file, id]);

    public List<string> StagingsOf(string id) =>
        Directory.Exists(StateDir) ? Directory.EnumerateDirectories(StateDir, id, SearchOption.AllDirectories).ToList() : [];

    public void Dispose()
    {
        try
        {
            if (dockerd is { Alive: true })
            {
                seen.AddRange(Docker("ps", "-aq", "--no-trunc").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                if (seen.Count > 0) Docker(["rm", "-f", .. seen.Distinct()]);
            }
        }
        finally
        {
            Leftovers.KillProcessesOfContainers(seen);
            dockerd?.Dispose();
            Dir.Dispose();
        }
    }
}
