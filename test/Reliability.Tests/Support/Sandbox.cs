using Newtonsoft.Json.Linq;

namespace Csshim.Reliability.Tests.Support;

/// <summary>One test's world: a temp dir (0755, so an unprivileged user could reach csshim's files if csshim let
/// them) holding csshim's state dir, the runtimes' --root dirs, a busybox rootfs, bundles and archives. Tracks every
/// container it starts and takes all of it down on Dispose, whatever the test left.</summary>
public sealed class Sandbox : IDisposable
{
    public const string TarAnnotation = "dev.gvisor.tar.rootfs.upper";
    public const string DigestAnnotation = "dev.csshim.tar.rootfs.upper.sha256";

    public string Dir { get; }
    public string StateDir => Path.Combine(Dir, "state");
    public string Rootfs => Path.Combine(Dir, "rootfs");
    public string Logs => Path.Combine(Dir, "logs");
    public string RootOf(RuntimeUnderTest rt) => Path.Combine(Dir, "root-" + rt.Name);

    private readonly List<(RuntimeUnderTest Runtime, string Id)> containers = [];
    private static JObject? specTemplate;

    public Sandbox()
    {
        Dir = Path.Combine("/tmp", $"csshim-rel-{Guid.NewGuid():N}"[..24]);
        Directory.CreateDirectory(Dir);
        File.SetUnixFileMode(Dir, (UnixFileMode)0b111_101_101);
        MakeRootfs();
    }

    private void MakeRootfs()
    {
        foreach (var d in new[] { "bin", "etc", "proc", "sys", "dev", "tmp", "root" })
            Directory.CreateDirectory(Path.Combine(Rootfs, d));
        File.Copy("/bin/busybox", Path.Combine(Rootfs, "bin", "busybox"));
        foreach (var applet in new[] { "sh", "cat", "ls", "echo", "sleep", "mkdir", "dd", "sha256sum" })
            File.CreateSymbolicLink(Path.Combine(Rootfs, "bin", applet), "busybox");
    }

    /// <summary>An engine's writable layer over the shared rootfs, as Docker, containerd or podman mount a container's
    /// rootfs: an overlay with its own upper on disk, under this sandbox (so Dispose unmounts it).</summary>
    public string EngineRootfs(string name)
    {
        var layer = Path.Combine(Dir, "engine", name);
        foreach (var sub in new[] { "upper", "work", "merged" }) Directory.CreateDirectory(Path.Combine(layer, sub));
        Proc.Must("/bin/mount", ["-t", "overlay", "overlay", "-o",
            $"lowerdir={Rootfs},upperdir={Path.Combine(layer, "upper")},workdir={Path.Combine(layer, "work")}", Path.Combine(layer, "merged")], Logs);
        return Path.Combine(layer, "merged");
    }

    /// <summary>Mounts of csshim's own (its tmpfs and overlays), not the engine layers a test mounted.</summary>
    public List<string> CsshimMounts() => HostState.MountsUnder(Dir).Where(m => !m.StartsWith(Path.Combine(Dir, "engine") + "/", StringComparison.Ordinal)).ToList();

    /// <summary>A bundle on the shared rootfs (or on <paramref name="rootfs"/>) running args, with runc's default spec otherwise.</summary>
    public string Bundle(string name, string[] args, IDictionary<string, string>? annotations = null, string? rootfs = null)
    {
        var bundle = Path.Combine(Dir, "bundles", name);
        Directory.CreateDirectory(bundle);
        var spec = (JObject)SpecTemplate().DeepClone();
        spec["process"]!["terminal"] = false;
        spec["process"]!["args"] = new JArray(args);
        spec["root"] = new JObject { ["path"] = rootfs ?? Rootfs, ["readonly"] = false };
        if (annotations is not null) spec["annotations"] = new JObject(annotations.Select(a => new JProperty(a.Key, a.Value)));
        File.WriteAllText(Path.Combine(bundle, "config.json"), spec.ToString());
        return bundle;
    }

    private JObject SpecTemplate()
    {
        if (specTemplate is not null) return specTemplate;
        var dir = Path.Combine(Dir, "spec-template");
        Directory.CreateDirectory(dir);
        Proc.Must("/usr/sbin/runc", ["spec", "--bundle", dir], Logs);
        return specTemplate = JObject.Parse(File.ReadAllText(Path.Combine(dir, "config.json")));
    }

    /// <summary>An upper-layer archive holding files (path under ./ → content), root-owned 0644 as the policy wants.</summary>
    public string Archive(string name, IDictionary<string, byte[]> files, string? dir = null)
    {
        var tree = Path.Combine(Dir, "trees", name);
        foreach (var (path, content) in files)
        {
            var full = Path.Combine(tree, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllBytes(full, content);
        }
        Directory.CreateDirectory(tree);
        var archive = Path.Combine(dir ?? Path.Combine(Dir, "archives"), name + ".tar");
        Directory.CreateDirectory(Path.GetDirectoryName(archive)!);
        Proc.Must("/bin/tar", ["--format=pax", "-C", tree, "-cf", archive, "."], Logs);
        File.SetUnixFileMode(archive, (UnixFileMode)0b110_100_100);
        return archive;
    }

    public static Dictionary<string, byte[]> Text(string path, string content) => new() { [path] = System.Text.Encoding.UTF8.GetBytes(content) };

    /// <summary>csshim with this sandbox's state dir and the runtime's --root; shimFlags go before the runtime's globals.</summary>
    public ProcResult Shim(RuntimeUnderTest rt, IEnumerable<string> args, IEnumerable<string>? shimFlags = null,
        IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null) =>
        ShimAt(rt, RootOf(rt), args, shimFlags, env, timeout);

    /// <summary>As <see cref="Shim"/> with `--root root` spelled as given, or no --root at all when root is null.</summary>
    public ProcResult ShimAt(RuntimeUnderTest rt, string? root, IEnumerable<string> args, IEnumerable<string>? shimFlags = null,
        IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        string[] argv = ["--shim-runtime", rt.Path, "--shim-state-dir", StateDir, .. RestoreUnderTest.Flags(StateDir), .. shimFlags ?? [], .. rt.GlobalArgs,
            .. root is null ? Array.Empty<string>() : ["--root", root], .. args];
        return Proc.Run(CsshimBinary.Require(), argv, Logs, timeout, env);
    }

    /// <summary>The runtime itself, with the same --root, as a client that bypasses csshim would call it.</summary>
    public ProcResult Runtime(RuntimeUnderTest rt, params string[] args) =>
        Proc.Run(rt.Path, [.. rt.GlobalArgs, "--root", RootOf(rt), .. args], Logs);

    /// <summary>Remember id so Dispose deletes it whatever happens to the test.</summary>
    public string Track(RuntimeUnderTest rt, string id)
    {
        lock (containers) containers.Add((rt, id));
        return id;
    }

    public bool RuntimeKnows(RuntimeUnderTest rt, string id) => Runtime(rt, "state", id).Status == 0;

    public string? StatusOf(RuntimeUnderTest rt, string id)
    {
        var r = Runtime(rt, "state", id);
        return ContainerExit.StatusOf(r.Status, r.Stdout);
    }

    /// <summary>Where `create --pid-file` puts the container's process id for <see cref="WaitStopped"/>.</summary>
    public string PidFile(string id) => Path.Combine(Dir, id + ".pid");

    /// <summary>Waits for the container to stop for good: the process its create wrote to <see cref="PidFile"/>
    /// reaped and the runtime saying "stopped" (see <see cref="ContainerExit"/>).</summary>
    public void WaitStopped(RuntimeUnderTest rt, string id)
    {
        int pid = ContainerExit.ReadPidFile(PidFile(id));
        ProcResult? last = null;
        if (ContainerExit.WaitStopped(pid, () => ContainerExit.StatusOf((last = Runtime(rt, "state", id)).Status, last.Stdout),
                TimeSpan.FromSeconds(60))) return;
        throw new TimeoutException($"{rt} container {id} did not stop in 60 s (process {pid} reaped: {ContainerExit.IsReaped(pid)}); last state: {last}");
    }

    /// <summary>Container ids the runtime lists under this sandbox's --root.</summary>
    public List<string> RuntimeContainers(RuntimeUnderTest rt)
    {
        if (!Directory.Exists(RootOf(rt))) return [];
        var r = Runtime(rt, "list", "--quiet");
        if (r.Status != 0) throw new InvalidOperationException($"{rt} list: {r}");
        return r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
    }

    /// <summary>Staging dirs (&lt;state&gt;/&lt;root hash&gt;/&lt;id&gt;) left in the state dir.</summary>
    public List<string> Stagings() =>
        Directory.Exists(StateDir)
            ? Directory.EnumerateDirectories(StateDir).SelectMany(Directory.EnumerateDirectories).ToList()
            : [];

    public string StagingOf(string id) => Stagings().Single(s => Path.GetFileName(s) == id);

    /// <summary>csshim's layer cache for this sandbox's csshim.</summary>
    public string CacheDir => RestoreUnderTest.CacheDirFor(StateDir);

    /// <summary>Entries of the layer cache (a build in progress or left by a crash, `.build-*`, is not one).</summary>
    public List<string> CacheEntries() => CacheDirs().Where(d => !Path.GetFileName(d).StartsWith('.')).ToList();

    /// <summary>What crashed builds and removals left in the layer cache (`.build-*`, `.trash-*`).</summary>
    public List<string> CacheLeftovers() => CacheDirs().Where(d => Path.GetFileName(d).StartsWith('.')).ToList();

    private List<string> CacheDirs() => Directory.Exists(CacheDir) ? Directory.EnumerateDirectories(CacheDir).ToList() : [];

    /// <summary>Nothing of csshim's or the runtime's is left: no mount, no staging, no container.</summary>
    public void AssertClean(string context)
    {
        Assert.Multiple(() =>
        {
            Assert.That(CsshimMounts(), Is.Empty, $"{context}: mounts left");
            Assert.That(Stagings(), Is.Empty, $"{context}: stagings left");
            foreach (var rt in Runtimes.Present)
                Assert.That(RuntimeContainers(rt), Is.Empty, $"{context}: {rt} containers left");
        });
    }

    /// <summary>Mounts csshim failed to remove after `csshim delete --force` of every container the test made.</summary>
    public int LeakedMounts { get; private set; }

    public void Dispose()
    {
        List<(RuntimeUnderTest, string)> made;
        lock (containers) made = [.. containers];
        foreach (var (rt, id) in made) Try(() => Shim(rt, ["delete", "--force", id], timeout: TimeSpan.FromSeconds(60)));
        LeakedMounts = HostState.MountsUnder(Dir).Count;
        // Whatever csshim left: the runtime's containers, then the mounts deepest first, then the files.
        foreach (var (rt, id) in made) Try(() => Runtime(rt, "delete", "--force", id));
        foreach (var rt in Runtimes.Present)
            Try(() => RuntimeContainers(rt).ForEach(id => Runtime(rt, "delete", "--force", id)));
        foreach (var mount in HostState.MountsUnder(Dir))
            Try(() => Proc.Run("/bin/umount", ["-l", mount], Logs));
        // Never recurse into a dir that still has a mount under it.
        if (HostState.MountsUnder(Dir).Count == 0) Directory.Delete(Dir, recursive: true);
        else TestContext.Out.WriteLine($"sandbox {Dir} kept: mounts remain");
    }

    private static void Try(Action cleanup)
    {
        try
        {
            cleanup();
        }
        catch (Exception e)
        {
            TestContext.Out.WriteLine($"cleanup: {e.Message}");
        }
    }
}
