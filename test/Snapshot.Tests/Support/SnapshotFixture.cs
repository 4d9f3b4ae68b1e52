namespace Csshim.Snapshot.Tests.Support;

/// <summary>
/// One csshim (private --root and --shim-state-dir) over the fixture's runtime, and one busybox rootfs per test
/// that every container of the test uses as its image, so a restored container sees the same lower layer the
/// snapshotted one changed. In the in-place mode each bundle's rootfs is an engine-like overlay of that image with
/// its own upper on disk. The rig's TearDown force-deletes every container and fails the test on a left-over
/// mount or staging dir.
/// </summary>
public abstract class SnapshotFixture(string runtime, string mode) : IntegrationFixture(runtime)
{
    public const string UpperKey = "dev.gvisor.tar.rootfs.upper";
    public const string AllowFlag = "--allow-rootfs-tar-annotation";
    /// <summary>The README's example change: /dir/file with "hello world".</summary>
    protected const string WriteHello = "mkdir -p /dir && echo hello world > /dir/file";

    protected RuntimeCli Cli { get; private set; } = null!;
    protected bool InPlace => mode == StagingModes.InPlace;
    protected EngineLayers Engine => engine;
    private EngineLayers engine = null!;
    /// <summary>The image rootfs shared by the test's containers; tests add lower-layer files to it first.</summary>
    protected string Lower { get; private set; } = "";
    private int bundles;

    [SetUp]
    public void SetUpShim()
    {
        Cli = Shim();
        Lower = NewBundle("image").Rootfs;
        engine = new EngineLayers(TempDir);
    }

    /// <summary>Runs before the rig's TearDown (NUnit: derived first), which deletes the containers and checks mounts.</summary>
    [TearDown]
    public void DetachEngineLayers() => engine?.Dispose();

    /// <summary>A bundle over <see cref="Lower"/> running <paramref name="script"/> with sh -c.</summary>
    protected BusyboxBundle Bundle(string script, params (string Key, string Value)[] annotations)
    {
        var bundle = NewBundle($"b{++bundles}", "sh", "-c", script);
        bundle.Root["path"] = InPlace ? engine.Mount(Lower, Path.GetFileName(bundle.Dir)) : Lower;
        foreach (var (key, value) in annotations) bundle.SetAnnotation(key, value);
        GrantFileCapabilities(bundle);
        return bundle.Save();
    }

    // `runc spec` grants almost nothing; the file-kind tests chown, chmod u+s and write root's files as Docker's
    // default capability set allows.
    private static readonly string[] FileCapabilities = { "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_MKNOD" };

    private static void GrantFileCapabilities(BusyboxBundle bundle)
    {
        var caps = (Newtonsoft.Json.Linq.JObject)bundle.Process["capabilities"]!;
        foreach (var set in new[] { "bounding", "effective", "permitted" })
        {
            var list = (Newtonsoft.Json.Linq.JArray)caps[set]!;
            foreach (var cap in FileCapabilities.Where(c => !list.Any(t => (string?)t == c))) list.Add(cap);
        }
    }

    /// <summary>create + start of a long-running container; <paramref name="globals"/> go before `create`.</summary>
    protected string StartContainer(BusyboxBundle bundle, params string[] globals)
    {
        var id = NewId(Cli, "snap");
        AssertSucceeded(Cli.RunWithGlobals(globals, "create", "--bundle", bundle.Dir, id), "csshim create");
        AssertSucceeded(Cli.Run("start", id), "csshim start");
        return id;
    }

    protected string StartSleeper(params (string Key, string Value)[] annotations) =>
        StartContainer(Bundle("exec sleep 1000", annotations), annotations.Length > 0 ? new[] { AllowFlag } : Array.Empty<string>());

    /// <summary>A container started with the archive annotation, sleeping so the test can look at it.</summary>
    protected string StartRestored(string archive) => StartSleeper((UpperKey, archive));

    /// <summary>Runs a script inside a running container; fails the test unless it exits 0. Returns its stdout.</summary>
    protected string Exec(string id, string script)
    {
        var r = Cli.Run("exec", id, "sh", "-c", script);
        AssertSucceeded(r, $"exec `{script}` in {id}");
        return r.Stdout;
    }

    /// <summary>`csshim tar rootfs-upper --file` into the test's snapshot dir; returns the archive path.</summary>
    protected string Snapshot(string id, string name = "snap.tar", params string[] flags)
    {
        var file = SnapshotPath(name);
        AssertSucceeded(Cli.Run(new[] { "tar", "rootfs-upper", "--file", file }.Concat(flags).Append(id).ToArray()),
            "csshim tar rootfs-upper");
        return file;
    }

    /// <summary>csshim run by sh after <paramref name="prelude"/> (a umask, a redirection of fd 1), with the
    /// CLI's globals before <paramref name="args"/>.</summary>
    protected CommandResult ShimThroughShell(string prelude, params string[] args) =>
        ProcessRunner.Run("/bin/sh", new[] { "-c", prelude + "; exec \"$@\"", "sh", Cli.Exe }.Concat(Cli.Args(args)));

    protected string SnapshotPath(string name)
    {
        var dir = Path.Combine(TempDir, "snapshots");
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, name);
    }

    /// <summary>A foreground `csshim run` of a new container restored from <paramref name="archive"/>.</summary>
    protected CommandResult RunRestored(string archive, string script) => RunWithAnnotations(script, (UpperKey, archive));

    protected CommandResult RunWithAnnotations(string script, params (string Key, string Value)[] annotations)
    {
        var bundle = Bundle(script, annotations);
        return Cli.RunWithGlobals(new[] { AllowFlag }, "run", "--bundle", bundle.Dir, NewId(Cli, "run"));
    }

    protected void Delete(string id) => AssertSucceeded(Cli.Run("delete", "--force", id), $"csshim delete --force {id}");

    /// <summary>&lt;state&gt;/&lt;root hash&gt;/&lt;id&gt; of a staged container.</summary>
    protected string StageDir(string id)
    {
        var dir = StagedContainers(Cli).SingleOrDefault(d => Path.GetFileName(d) == id);
        Assert.That(dir, Is.Not.Null, $"no staging dir for {id} under {Cli.ShimStateDir}");
        return dir!;
    }

    /// <summary>Where the container's changes are on the host: csshim's tmpfs upper, or the engine's upper.</summary>
    protected string StagedUpper(string id) => StageRecord(id)["upper"]!.ToString();

    /// <summary>Where a restored container's restored files are on the host: the cached layer its staging stacks
    /// (restore mode "layer"), else its upper (mode "copy").</summary>
    protected string RestoredFilesOnHost(string id) => StagedLayer(id) ?? StagedUpper(id);

    /// <summary>The cached layer the container's staging stacks, or null (restore mode "copy", or no archive).</summary>
    protected string? StagedLayer(string id) => StageRecord(id)["layer"]?.ToString() is { Length: > 0 } layer ? layer : null;

    /// <summary>The container's rootfs as mounted on the host: csshim's overlay, or the engine's.</summary>
    protected string StagedMerged(string id) => InPlace ? StageRecord(id)["rootfs"]!.ToString() : Path.Combine(StageDir(id), "merged");

    /// <summary>Mounts made since SetUp other than the engine layers the test itself mounted.</summary>
    protected IEnumerable<string> CsshimMounts() => NewMounts().Where(m => !engine.Owns(m));

    private Newtonsoft.Json.Linq.JObject StageRecord(string id) =>
        Newtonsoft.Json.Linq.JObject.Parse(File.ReadAllText(Path.Combine(StageDir(id), "state.json")));

    /// <summary>Writes a file of the image rootfs (the lower layer) before any container starts.</summary>
    protected void LowerFile(string relative, string content)
    {
        var path = Path.Combine(Lower, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    /// <summary>A container that runs <paramref name="script"/>, snapshotted while it runs, then deleted.</summary>
    protected string SnapshotAfter(string script, string name = "snap.tar", params string[] flags)
    {
        var id = StartSleeper();
        Exec(id, script);
        var archive = Snapshot(id, name, flags);
        Delete(id);
        return archive;
    }

    /// <summary>The README's flow: a container writes /dir/file and is snapshotted while it runs.</summary>
    protected string HelloWorldSnapshot(string name = "snap.tar", params string[] flags) => SnapshotAfter(WriteHello, name, flags);
}
