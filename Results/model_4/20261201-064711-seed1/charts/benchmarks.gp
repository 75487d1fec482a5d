# Test accuracy by classifier, sorted, coloured by kind.
# Data: benchmarks.dat. Redraw benchmarks.png and benchmarks.svg with: gnuplot benchmarks.gp (in this directory)
do for [format in "png svg"] {
    if (format eq "png") {
        set terminal pngcairo size 900,1000 noenhanced font 'Sans,10' background rgb 'white'
    } else {
        set terminal svg size 900,1000 noenhanced font 'Sans,10' background rgb 'white'
    }
    set output (exists("fb_output_".format) ? value("fb_output_".format) : 'benchmarks.'.format)
    reset
    set encoding utf8
    set datafile missing 'NaN'
    set title 'model_4 among Zalando''s Fashion-MNIST benchmarks'
    set xlabel 'test accuracy'
    set xrange [0.82:0.98812]
    set yrange [-0.7:40 - 0.3]
    set ytics ('Human performance (crowd-sourced)' 0, '2 Conv+pooling' 1, 'MLP 256-128-100' 2, 'GRU+SVM' 3, 'GRU+SVM with dropout' 4, 'XGBoost' 5, 'AlexNet with triplet loss' 6, 'SqueezeNet with cyclical learning rate 200 epochs' 7, '2 Conv+pooling+ELU (PyTorch)' 8, '3 Conv+pooling+BN' 9, 'Dyra-Net' 10, '3 Conv+2 FC' 11, 'model_4 (paper, validation)' 12, '2 Conv+pooling (TensorFlow tutorial)' 13, 'model_4 (FashionBench)' 14, '2 Conv' 15, '3 Conv+BN+pooling' 16, '2 Conv ~113K parameters' 17, '2 Conv <100K parameters' 18, '3 Conv+pooling+2 FC+dropout' 19, 'HOG+SVM' 20, '5 Conv+BN+pooling' 21, 'fastai ResNet50 fine-tuning' 22, '2 Conv+3 FC ~1.8M parameters' 23, '2 Conv+3 FC ~500K parameters' 24, '2 Conv+pooling+BN' 25, 'VGG16 26M parameters' 26, 'Capsule Network 8M parameters' 27, 'GoogleNet with cross-entropy loss' 28, '2 Conv+2 FC' 29, 'Google AutoML' 30, 'CNN with optional shortcuts (dense-like)' 31, 'ResNet18' 32, 'MobileNet' 33, 'DENSER' 34, 'DenseNet-BC 768K params' 35, 'Dual path network with WRN-28-10' 36, 'WRN-28-10' 37, 'WRN-28-10 + Random Erasing' 38, 'WRN40-4 8.9M params' 39) scale 0 font ',8'
    set grid xtics
    set style fill solid 0.85 noborder
    set key bottom right opaque box
    plot 'benchmarks.dat' using (0.82):1:(0.82):2:($1 - 0.38):($1 + 0.38):6 with boxxyerror linecolor rgb variable notitle, \
         '' using 2:1:3:4 with xerrorbars linecolor rgb 'black' pointsize 0 notitle, \
         '' using 5:1:(sprintf('%.4f', $2)) with labels left offset 0.6,0 font ',8' notitle, \
         keyentry with boxes fillcolor rgb '#d62728' title 'ours', \
         keyentry with boxes fillcolor rgb '#1f77b4' title 'paper', \
         keyentry with boxes fillcolor rgb '#7f7f7f' title 'zalando', \
         keyentry with boxes fillcolor rgb '#2ca02c' title 'human'
    set output
}
