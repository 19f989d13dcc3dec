// The generated Kotlin bindings in plain-JVM mode, as a compile-only API for :viewmodels (a plain
// Kotlin module cannot depend on the Android library :bindings-android). Never packaged into the
// app: at run time the app gets the same classes, generated in Android mode, from
// :bindings-android. Both come from one `uniffi-bindgen generate` of one library, so they are the
// same API. bindings/scripts/build-android.sh writes src/main/kotlin/io/outpost/outpost.kt.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
        // Generated code: its warnings are not ours to fix.
        suppressWarnings.set(true)
    }
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

val generated = layout.projectDirectory.file("src/main/kotlin/io/outpost/outpost.kt")

tasks.named("compileKotlin") {
    val file = generated.asFile
    doFirst {
        check(file.isFile) { "$file is missing: run bindings/scripts/build-android.sh first" }
    }
}

dependencies {
    compileOnly(libs.jna)
    compileOnly(libs.kotlinx.coroutines.core)
}
