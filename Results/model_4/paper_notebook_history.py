"""Extracts model_4's 50-epoch Keras log from the paper's own notebook (seed 000's repository,
github.com/juansantateresa/Fashionitems_imagesearch, Development/03_CNN_fine_tuning.ipynb, the
cell `history_4=model_4.fit(Xtrain,ytrain, batch_size=96, epochs=50, validation_data=(Xval,yval))`)
into paper_notebook_history.csv. The notebook trained on raw 0..255 pixels (its data notebook
reads the IDX bytes as uint8 and nothing rescales them); its last line, val_loss 0.1874 and
val_accuracy 0.9132, is the paper's "0.913 validation, 0.187 loss".

  python paper_notebook_history.py 03_CNN_fine_tuning.ipynb > paper_notebook_history.csv"""
import json, re, sys

nb = json.load(open(sys.argv[1]))
cell = next(c for c in nb["cells"] if "history_4=model_4.fit" in "".join(c["source"]))
log = "".join("".join(o.get("text", "")) for o in cell["outputs"])
print("epoch,loss,accuracy,val_loss,val_accuracy")
for m in re.finditer(r"Epoch (\d+)/50\n.*? - loss: ([\d.]+) - accuracy: ([\d.]+) - val_loss: ([\d.]+) - val_accuracy: ([\d.]+)", log):
    print(",".join(m.groups()))
