// The demo's view-models: plain Kotlin (JVM), no androidx. Dispatchers are injected and state is
// StateFlow, so they run unchanged in the app (Dispatchers.Main) and on the JVM in tests.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
        allWarningsAsErrors.set(true)
    }
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

dependencies {
    implementation(libs.kotlinx.coroutines.core)
    // The Outpost API at compile time; the app supplies it at run time (:bindings-android).
    compileOnly(project(":bindings-jvm"))

    testImplementation(project(":bindings-jvm"))
    testImplementation(libs.jna)
    testImplementation(libs.junit)
}

// The tests run against the real host library and the real emulator, which Cargo builds:
// `bash android-demo/viewmodels/run-jvm-tests.sh` builds both and runs them (what CI runs).
// `./gradlew :viewmodels:test` works too once that script (or generate.sh + cargo build) has run.
val workspaceTarget = rootProject.layout.projectDirectory.dir("../target")
tasks.test {
    val emulator = workspaceTarget.file("debug/outpost-emulator").asFile
    val library = workspaceTarget.dir("bindings-test/lib").asFile
    systemProperty("outpost.emulator", emulator.path)
    systemProperty("jna.library.path", library.path)
    onlyIf("the host library and the emulator are built (run-jvm-tests.sh)") { emulator.canExecute() && library.isDirectory }
    exclude("**/JvmTestMain*")
    maxParallelForks = 1
}
